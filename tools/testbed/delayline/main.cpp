// delayline: holds every packet the testbed's hosts send for a fixed delay and drops a seeded
// random fraction, on the kernel's NFQUEUE (this kernel has no sch_netem). One process serves the
// whole testbed: it binds NFQUEUE queues in each named network namespace (the routers; setns,
// then back), asks for metadata only (NFQNL_COPY_META) and GSO super-packets unsegmented
// (NFQA_CFG_F_GSO), and accepts in batches (NFQNL_MSG_VERDICT_BATCH accepts every queued id up to
// one id), which is exact because the delay is the same for every packet, so due times follow
// arrival order. With --queues N it binds queues 0..N-1 in every namespace (iptables
// --queue-balance spreads flows over them) and runs one loop thread per queue number.
// tools/testbed/run starts it; docs/testbed.md says why the delay is not on the sender.
// Exit: 0 after SIGTERM/SIGINT, 1 on a start-up failure, 2 usage error.
#include "delay_line.hpp"
#include "netns_queue.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace delayline;

/// Settings from the command line (see parse for each flag's meaning).
struct options {
    double delay_ms = 0;
    double loss_pct = 0;
    std::uint64_t seed = 1;
    queue_config queue;
    unsigned tick_us = 250;
    unsigned queues = 1;
    std::string gso = "auto";
    std::string ready_file;
    std::string stats_file;
    std::vector<std::string> netns;
};

constexpr int realtime_priority = 10;

/// Parses the command line; returns an exit code when the program should stop (help, error).
int parse(int argc, char** argv, options& opt) {
    CLI::App app{"Delay line and random loss for the testbed queues, on NFQUEUE"};
    app.add_option("--delay-ms", opt.delay_ms, "one-way delay added to every packet")
        ->required()
        ->check(CLI::Range(0.0, 10000.0));
    app.add_option("--loss-pct", opt.loss_pct, "percent of packets dropped (seeded draws)")
        ->check(CLI::Range(0.0, 99.999));
    app.add_option("--seed", opt.seed, "seed of the loss draws (one stream per queue)");
    app.add_option("--queue", opt.queue.queue, "first NFQUEUE number bound in every namespace");
    app.add_option("--queues", opt.queues,
                   "queues per namespace (--queue and the next ones), one thread each (1)")
        ->check(CLI::Range(1u, 64u));
    app.add_option("--queue-maxlen", opt.queue.maxlen, "packets the kernel holds per queue")
        ->check(CLI::Range(16u, 1u << 24));
    app.add_option("--tick-us", opt.tick_us, "release granularity in microseconds (250)")
        ->check(CLI::Range(10u, 100000u));
    app.add_option("--gso", opt.gso,
                   "queue GSO super-packets whole: on, off, auto (= on without loss, so that "
                   "loss stays per segment)")
        ->check(CLI::IsMember({"auto", "on", "off"}));
    app.add_option("--ready-file", opt.ready_file, "created once every queue is bound");
    app.add_option("--stats-file", opt.stats_file, "JSON counters written at exit");
    app.add_option("netns", opt.netns, "network namespace names (under /run/netns)")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;  // usage errors exit 2, as every MiniBit program does
    }
    opt.queue.gso = opt.gso == "on" || (opt.gso == "auto" && opt.loss_pct == 0);
    return -1;
}

/// Binds every namespace's queues (namespace-major: entry i is queue i % queues of namespace
/// i / queues) and comes back to our namespace.
std::vector<netns_queue> bind_all(const options& opt) {
    std::vector<netns_queue> queues;
    queues.reserve(opt.netns.size() * opt.queues);
    unique_fd home(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (home.get() < 0) fail("open own network namespace");
    for (const std::string& netns : opt.netns) {
        const std::string path = "/run/netns/" + netns;
        unique_fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (ns.get() < 0 || setns(ns.get(), CLONE_NEWNET) != 0) fail("setns " + path);
        for (unsigned q = 0; q < opt.queues; ++q) {
            queues.emplace_back(netns, opt.loss_pct, opt.seed, queues.size());
            queue_config config = opt.queue;
            config.queue = static_cast<std::uint16_t>(opt.queue.queue + q);
            queues.back().bind(config);
        }
    }
    if (setns(home.get(), CLONE_NEWNET) != 0) fail("setns back");
    return queues;
}

/// Every packet of every host waits on these threads: SCHED_FIFO puts them ahead of the peers
/// (the kernel's RT throttling still bounds them); nice -10 where that is refused.
void raise_priority() {
    sched_param sp{};
    sp.sched_priority = realtime_priority;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) setpriority(PRIO_PROCESS, 0, -10);
}

nlohmann::json report(const options& opt, const std::vector<delay_line>& lines,
                      std::vector<netns_queue>& queues) {
    loop_counters total;
    lateness_histogram late;
    for (const auto& line : lines) {
        const loop_counters& c = line.counters();
        total.wakeups += c.wakeups;
        total.packets += c.packets;
        total.stamped += c.stamped;
        total.held_max = std::max(total.held_max, c.held_max);
        total.poll_gap_max_ns = std::max(total.poll_gap_max_ns, c.poll_gap_max_ns);
        late.merge(line.lateness());
    }
    nlohmann::json out{{"gso", opt.queue.gso},
                       {"threads", lines.size()},
                       {"wakeups", total.wakeups},
                       {"packets", total.packets},
                       {"stamped", total.stamped},
                       {"held_max", total.held_max},
                       {"poll_gap_max_us", total.poll_gap_max_ns / 1000},
                       {"late_us_median", late.quantile_us(0.5)},
                       {"late_us_p99", late.quantile_us(0.99)},
                       {"late_us_max", late.max_us()}};
    out["queues"] = nlohmann::json::array();
    for (auto& h : queues) {
        const queue_counters c = h.counters();
        out["queues"].push_back({{"netns", h.netns()},
                                 {"queue", h.queue()},
                                 {"accepted", c.accepted},
                                 {"lost", c.lost},
                                 {"verdict_sends", c.verdict_sends},
                                 {"queue_dropped", c.queue_dropped},
                                 {"user_dropped", c.user_dropped}});
    }
    return out;
}

int run(const options& opt) {
    std::vector<netns_queue> queues = bind_all(opt);
    raise_priority();  // before the threads start: they inherit it
    // Any socket with SO_TIMESTAMPNS turns on the kernel's receive timestamps for every packet
    // (a global switch); NFQUEUE then passes each packet's arrival time along.
    unique_fd stamps(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int on = 1;
    setsockopt(stamps.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    // SIGTERM/SIGINT blocked in every thread; this one waits for them and then signals `stop`.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    unique_fd stop(eventfd(0, EFD_CLOEXEC));
    if (stop.get() < 0) fail("eventfd");

    const auto delay_ns = std::llround(opt.delay_ms * 1e6);
    std::vector<delay_line> lines;
    lines.reserve(opt.queues);
    for (unsigned t = 0; t < opt.queues; ++t) {
        std::vector<netns_queue*> mine;  // queue t of every namespace
        for (std::size_t h = t; h < queues.size(); h += opt.queues) mine.push_back(&queues[h]);
        lines.emplace_back(std::move(mine), delay_ns, std::int64_t{opt.tick_us} * 1000, stop.get());
    }
    std::vector<std::jthread> running;
    for (auto& line : lines) running.emplace_back([&line] { line.run(); });
    if (!opt.ready_file.empty()) std::ofstream(opt.ready_file).put('\n');
    int sig = 0;
    sigwait(&set, &sig);
    const std::uint64_t one = 1;
    if (write(stop.get(), &one, sizeof one) != sizeof one) fail("eventfd write");
    running.clear();  // joins
    if (!opt.stats_file.empty()) {
        std::ofstream(opt.stats_file) << report(opt, lines, queues).dump() << '\n';
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    if (const int code = parse(argc, argv, opt); code >= 0) return code;
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "delayline: %s\n", e.what());
        return 1;
    }
}
