#include "tracker_probe.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "announce_driver.hpp"
#include "cpu_affinity.hpp"
#include "minibit/loadgen/announce_workload.hpp"

namespace minibit::loadgen {

namespace {

// One probe announce waits at most this long (the swarm's own announces wait 15 s).
constexpr std::chrono::milliseconds probe_timeout{2'000};

}  // namespace

tracker_probe::tracker_probe(std::uint16_t port, double rate, std::uint32_t numwant,
                             std::chrono::steady_clock::time_point until,
                             std::optional<unsigned> cpu)
    : port_(port), rate_(rate), numwant_(numwant), until_(until), cpu_(cpu) {
    counts_.rate_per_second = rate;
}

tracker_probe::~tracker_probe() {
    stop();
}

void tracker_probe::start() {
    if (rate_ <= 0 || thread_.joinable()) return;
    thread_ = std::thread([this] { loop(); });
}

void tracker_probe::stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
}

void tracker_probe::loop() {
    // Named so that it can be found (and given a scheduling priority) from outside.
    ::pthread_setname_np(::pthread_self(), "tracker-probe");
    if (cpu_) {
        if (auto r = pin_this_thread(*cpu_); !r) {
            fmt::print(stderr, "minibit-loadgen: tracker probe: {}\n", r.error().message());
        }
    }
    auto url = parse_tracker_url(fmt::format("http://127.0.0.1:{}/announce", port_));
    if (!url) return;
    announce_options o;
    o.url = fmt::format("http://127.0.0.1:{}/announce", port_);
    o.tracker = *url;
    o.torrents = 1;
    o.peers = 1;
    o.concurrency = 1;
    o.count = 1;
    o.duration = probe_timeout;
    o.numwant = numwant_;
    o.timeout = probe_timeout;
    o.reuse = http_reuse::close_each;
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / rate_));
    auto next = std::chrono::steady_clock::now();
    while (!stopping_.load() && std::chrono::steady_clock::now() < until_) {
        announce_report one;
        one.options = o;
        ++counts_.sent;
        if (run_http_announces(o, one) && one.answered == 1) {
            ++counts_.answered;
            latency_.add(one.latency.max());
        } else {
            ++counts_.errors;
        }
        next += period;
        const auto now = std::chrono::steady_clock::now();
        if (next < now) next = now;  // a slow answer does not cause a burst afterwards
        while (!stopping_.load() && std::chrono::steady_clock::now() < next) {
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                next - now, std::chrono::milliseconds(5)));
        }
    }
}

probe_result tracker_probe::result() const {
    probe_result r = counts_;
    r.p50_us = latency_.quantile(0.50);
    r.p99_us = latency_.quantile(0.99);
    r.p999_us = latency_.quantile(0.999);
    r.max_us = latency_.max();
    return r;
}

std::optional<double> process_cpu_seconds(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string text;
    if (!std::getline(in, text)) return std::nullopt;
    // Fields after the command (which may hold spaces) start after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    // proc(5): state is field 3; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
        if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    const long ticks = ::sysconf(_SC_CLK_TCK);
    if (ticks <= 0) return std::nullopt;
    return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

}  // namespace minibit::loadgen
