// minibit-loadgen: load generators for MiniBit (the loadgen part, src/loadgen). `swarm` runs a
// tracker and N peers on 127.0.0.1 and checks every copy, `announce` drives announces at any
// tracker, `floor` times do-nothing processes. Thin: the flag table below is the parser, the
// range checks and --help at once (apps/common/cli.hpp); the flags that depend on each other
// are checked here; then the part's command runs.
#include <sched.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../common/cli.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/loadgen/commands.hpp"

namespace {

namespace apps = minibit::apps;
namespace lg = minibit::loadgen;
using apps::usage_error;

constexpr std::string_view program = "minibit-loadgen";
constexpr std::uint64_t default_size = 1U << 20U;

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

lg::report_format format_of(bool json) {
    return json ? lg::report_format::json : lg::report_format::text;
}

// ---- swarm ---------------------------------------------------------------------------------

// The swarm flags' values, and the options whose presence matters.
struct swarm_flags {
    lg::swarm_options o;
    std::string mode = "scatter";
    double timeout = 60, linger = 0, rechoke = 0;
    std::uint32_t probe_rate = 0, tracker_cpu = 0;
    bool json = false, keep = false, in_process = false, log_per_peer = false, origin = false;
    CLI::Option *file = nullptr, *size = nullptr, *pieces = nullptr, *piece_size = nullptr;
    CLI::Option *threads = nullptr, *probe = nullptr, *cpu = nullptr, *rechoke_opt = nullptr;
    CLI::Option* max_peers = nullptr;
};

void declare_swarm_shape(CLI::App& c, swarm_flags& f) {
    auto& o = f.o;
    apps::add_count(c, "--peers", o.peers, 1, 1000, "peers");
    f.file = apps::add_text(c, "--file", o.file, "PATH", "file to share, made (text) when absent");
    apps::shown_default(f.file, "files/original.txt, or files/original-BYTES.txt with --size");
    f.size = apps::add_count(c, "--size", o.size_bytes, 1, 1ULL << 30U,
                             "size of the file made when absent", "BYTES");
    apps::shown_default(f.size, "1048576");
    f.pieces = apps::add_count(c, "--pieces", o.pieces, 1, 1U << 20U, "piece count, or");
    apps::shown_default(f.pieces, "100");
    f.piece_size = apps::add_count(c, "--piece-size", o.piece_size_bytes, 1, 256ULL << 20U,
                                   "piece length", "BYTES");
    apps::shown_default(f.piece_size, "");
    apps::add_choice(c, "--mode", f.mode, {"scatter", "seed"},
                     "scatter: every piece held by one peer; seed: peer 0 seeds, the others "
                     "start empty");
    apps::add_switch(c, "--origin", f.origin,
                     "with --mode seed: the seeder runs with --origin (uploads each piece about "
                     "once); the report gives its upload in copies of the file either way");
    apps::add_count(c, "--numwant", o.numwant, 1, 1000, "peers each peer asks the tracker for");
    apps::shown_default(
        apps::add_count(c, "--uplink-rate", o.uplink_rate, 0, 1ULL << 40U,
                        "cap every peer's upload at BYTES per second, as an uplink would; the "
                        "report's fluid-model bound assumes these caps (without them loopback "
                        "has no link rate and no bound is given)",
                        "BYTES"),
        "0: none");
    apps::add_count(c, "--kill", o.kill, 0, 999,
                    "SIGKILL K random peers mid-transfer (never the seeder); at most peers-1", "K");
    apps::add_number(c, "--timeout", f.timeout, 0.001, 86400, "S",
                     "give up after S seconds, killing everything");
    apps::add_number(c, "--linger", f.linger, 0, 86400, "S",
                     "keep every peer seeding S more seconds once all completed");
    apps::add_count(c, "--seed", o.seed, 0, UINT64_MAX,
                    "random seed: file contents, piece spread, kill victims");
}

void declare_swarm_run(CLI::App& c, swarm_flags& f) {
    auto& o = f.o;
    apps::add_text(c, "--out", o.out_dir, "DIR", "download folders DIR/peer-N");
    apps::add_text(c, "--logs", o.log_dir, "DIR", "logs DIR/peer-N.log, DIR/tracker.log");
    apps::add_text(c, "--tracker-bin", o.tracker_bin, "PATH",
                   "the tracker program (default: minibit-tracker next to this program)");
    apps::add_text(c, "--peer-bin", o.peer_bin, "PATH",
                   "the peer program (default: minibit-peer next to this program)");
    apps::add_choice(c, "--io", o.io, {"auto", "uring", "epoll"},
                     "I/O back end of the peers and the tracker");
    apps::add_choice(c, "--log-level", o.log_level,
                     {"trace", "debug", "info", "warn", "error", "off"},
                     "log level of the peers and the tracker");
    f.rechoke_opt = apps::add_number(c, "--rechoke-interval", f.rechoke, 0, 86400, "S",
                                     "passed to every peer");
    apps::shown_default(f.rechoke_opt, "the peer's own");
    apps::add_switch(c, "--keep", f.keep, "keep the download folders after a successful run");
    apps::add_switch(c, "--json", f.json, "print one JSON object instead of the table");
    f.max_peers = apps::add_count(c, "--max-peers", o.max_peers, 1, 10000,
                                  "connections per peer at most");
    apps::shown_default(f.max_peers,
                        "50, fewer for --in-process peers when the open-file limit is lower");
    f.probe = apps::add_count(c, "--probe-rate", f.probe_rate, 0, 1000,
                              "announces per second of a tracker latency probe while the swarm "
                              "runs (p50/p99/p999 in the report)",
                              "R");
    apps::shown_default(f.probe, "50 with --in-process, else 0");
    apps::add_switch(c, "--in-process", f.in_process,
                     "host every peer in this process (real sockets and files) on --threads "
                     "reactor threads instead of one minibit-peer process each; logs: "
                     "DIR/peers.log, the peer index in every line");
    f.threads = apps::add_count(c, "--threads", o.threads, 1, 256,
                                "reactor threads for --in-process", "T");
    apps::shown_default(f.threads, "one per core");
    apps::add_switch(c, "--log-per-peer", f.log_per_peer,
                     "with --in-process: DIR/peer-N.log per peer instead of DIR/peers.log");
    f.cpu = apps::add_count(c, "--tracker-cpu", f.tracker_cpu, 0, CPU_SETSIZE - 1,
                            "run the tracker and the probe on CPU N and everything else on the "
                            "other CPUs, so the swarm's load does not queue the tracker");
    apps::shown_default(f.cpu, "no placement");
}

// The file to share and its geometry: --size names a file of its own, --pieces or --piece-size.
void settle_file(swarm_flags& f) {
    auto& o = f.o;
    if (apps::given(f.file)) {
        std::error_code ec;
        if (apps::given(f.size) && std::filesystem::exists(o.file, ec) &&
            std::filesystem::file_size(o.file, ec) != o.size_bytes) {
            throw usage_error(
                fmt::format("--file {} exists with a size other than --size", o.file.string()));
        }
    } else if (apps::given(f.size) && o.size_bytes != default_size) {
        o.file = fmt::format("files/original-{}.txt", o.size_bytes);
    }
    if (apps::given(f.pieces) && apps::given(f.piece_size))
        throw usage_error("give --pieces or --piece-size, not both");
    if (!apps::given(f.piece_size)) o.piece_size_bytes = 0;
}

lg::swarm_options swarm_options_of(swarm_flags& f) {
    auto& o = f.o;
    settle_file(f);
    o.hosting = f.in_process ? lg::peer_hosting::in_process : lg::peer_hosting::processes;
    if (!f.in_process && (apps::given(f.threads) || f.log_per_peer))
        throw usage_error("--threads and --log-per-peer go with --in-process");
    o.logs = f.log_per_peer ? lg::log_layout::per_peer : lg::log_layout::single_file;
    o.max_peers_given = apps::given(f.max_peers);
    o.probe_rate = static_cast<double>(apps::given(f.probe) ? f.probe_rate
                                                            : (f.in_process ? 50U : 0U));
    if (apps::given(f.cpu)) o.tracker_cpu = f.tracker_cpu;
    o.mode = f.mode == "seed" ? lg::start_mode::seed : lg::start_mode::scatter;
    if (o.mode == lg::start_mode::seed && o.peers < 2)
        throw usage_error("--mode seed needs --peers 2 or more");
    if (f.origin && o.mode != lg::start_mode::seed)
        throw usage_error("--origin needs --mode seed (a seeder to run it)");
    o.origin = f.origin;
    const std::uint32_t killable = o.mode == lg::start_mode::seed ? o.peers - 2 : o.peers - 1;
    if (o.kill > killable)
        throw usage_error(fmt::format("--kill: {} is outside 0..{}", o.kill, killable));
    o.timeout = to_ms(f.timeout);
    o.linger = to_ms(f.linger);
    if (apps::given(f.rechoke_opt)) o.rechoke_seconds = f.rechoke;
    o.keep = f.keep ? lg::keep_folders::yes : lg::keep_folders::no;
    return o;
}

// ---- announce ------------------------------------------------------------------------------

struct announce_flags {
    lg::announce_options o;
    double duration = 10, timeout = 5, rate = 0;
    std::string arrivals = "burst";
    bool json = false, http_close = false;
    CLI::Option *tracker = nullptr, *count = nullptr, *duration_opt = nullptr, *rate_opt = nullptr;
    CLI::Option *arrivals_opt = nullptr, *sockets_opt = nullptr;
};

// --tracker: http://IPv4:PORT/PATH or udp://IPv4:PORT, read as the drivers will.
CLI::Validator tracker_url() {
    return {[](std::string& text) -> std::string {
                auto parts = lg::parse_tracker_url(text);
                return parts ? std::string() : parts.error().reason;
            },
            ""};
}

void declare_announce(CLI::App& c, announce_flags& f) {
    auto& o = f.o;
    f.tracker = apps::add_text(c, "--tracker", o.url, "URL",
                               "the tracker to load: http://IPv4:PORT/PATH or udp://IPv4:PORT")
                    ->check(tracker_url());
    apps::add_count(c, "--torrents", o.torrents, 1, 1U << 20U, "distinct info hashes", "T");
    apps::add_count(c, "--peers", o.peers, 1, 1U << 24U,
                    "simulated peers, round-robin over the torrents", "P");
    apps::add_count(c, "--concurrency", o.concurrency, 1, 20000,
                    "HTTP connections / UDP requests in flight, at most --peers", "C");
    f.rate_opt = apps::add_number(c, "--rate", f.rate, 0.001, 1e8, "R",
                                  "offer at most R announces per second, paced");
    apps::shown_default(f.rate_opt, "as fast as answers come back");
    f.arrivals_opt = apps::add_choice(
        c, "--arrivals", f.arrivals, {"burst", "even", "poisson"},
        "UDP with --rate: burst sends what is due each loop turn (several at once); even sends "
        "one every 1/R s; poisson one at a time with random gaps of mean 1/R s, as from many "
        "independent clients");
    f.count = apps::add_count(c, "--count", o.count, 1, 1ULL << 40U, "issue N announces, or");
    apps::shown_default(f.count, "");
    f.duration_opt = apps::add_number(c, "--duration", f.duration, 0.001, 86400, "S",
                                      "issue announces for S seconds");
    apps::shown_default(f.duration_opt, "10; with --count: a cap, 60");
    apps::add_count(c, "--numwant", o.numwant, 0, 1000,
                    "numwant of leechers; seeders ask for a quarter");
    apps::add_number(c, "--timeout", f.timeout, 0.001, 300, "S", "per request attempt");
    apps::add_count(c, "--retries", o.udp_retries, 0, 10, "UDP retransmissions after a timeout");
    f.sockets_opt = apps::add_count(c, "--sockets", o.udp_sockets, 1, 1024,
                                    "UDP: client sockets (each its own address and connection "
                                    "id), all driven by this one thread",
                                    "N");
    apps::add_switch(c, "--http-close", f.http_close,
                     "one TCP connection per announce (as opentracker forces)");
    apps::add_text(c, "--write-info-hashes", o.info_hashes_file, "FILE",
                   "write the info hashes (40 hex digits a line); without --tracker, exit after "
                   "writing");
    apps::add_switch(c, "--json", f.json, "print one JSON object instead of text");
}

lg::announce_options announce_options_of(announce_flags& f) {
    auto& o = f.o;
    if (!apps::given(f.tracker) && o.info_hashes_file.empty())
        throw usage_error("announce needs --tracker URL");
    if (apps::given(f.tracker)) o.tracker = *lg::parse_tracker_url(o.url);
    if (o.peers / o.torrents >= lg::max_peers_per_torrent)
        throw usage_error(fmt::format("--peers: at most {} peers per torrent (distinct ports)",
                                      lg::max_peers_per_torrent));
    if (o.concurrency > o.peers)
        throw usage_error("--concurrency must not exceed --peers (one request per peer at a time)");
    if (!apps::given(f.count)) o.count = 0;
    o.duration = to_ms(apps::given(f.duration_opt) ? f.duration : o.count != 0 ? 60.0 : 10.0);
    o.rate = apps::given(f.rate_opt) ? f.rate : 0;
    o.arrivals = f.arrivals == "poisson" ? lg::arrival_model::poisson
                 : f.arrivals == "even"  ? lg::arrival_model::even
                                         : lg::arrival_model::burst;
    if (apps::given(f.arrivals_opt) && o.arrivals != lg::arrival_model::burst) {
        if (!apps::given(f.rate_opt)) throw usage_error("--arrivals even/poisson needs --rate");
        if (o.tracker.scheme != lg::tracker_scheme::udp)
            throw usage_error("--arrivals even/poisson applies to udp:// trackers only");
    }
    if (apps::given(f.sockets_opt) && o.tracker.scheme != lg::tracker_scheme::udp)
        throw usage_error("--sockets applies to udp:// trackers only");
    o.timeout = to_ms(f.timeout);
    o.reuse = f.http_close ? lg::http_reuse::close_each : lg::http_reuse::keep_alive;
    return o;
}

// ---- floor ---------------------------------------------------------------------------------

struct floor_flags {
    lg::floor_options o;
    bool json = false;
};

void declare_floor(CLI::App& c, floor_flags& f) {
    auto& o = f.o;
    apps::add_count(c, "--processes", o.processes, 1, 1000,
                    "processes per repetition; 11 stand for a tracker and 10 peers");
    apps::add_text(c, "--program", o.program, "PATH", "what to run");
    auto* arg = apps::add_text(c, "--arg", o.args, "A", "an argument of the program (repeatable)")
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                    ->configurable(false);
    apps::shown_default(arg, "");
    apps::add_count(c, "--repeat", o.repeat, 1, 1000, "repetitions", "R");
    apps::add_text(c, "--logs", o.log_dir, "DIR", "their output goes to DIR/floor.log");
    apps::add_switch(c, "--json", f.json, "print one JSON object instead of the table");
}

// ---- the program ---------------------------------------------------------------------------

constexpr std::string_view swarm_about =
    "Runs a swarm on 127.0.0.1 and checks every copy byte for byte. A minibit-tracker and N "
    "minibit-peer processes (or N peers inside this process with --in-process) get their "
    "starting pieces; once every peer has rebuilt the file (each keeps serving the others until "
    "then) all are stopped, every copy is compared with the original, and per-peer results, a "
    "summary and the wall time of the whole run are printed.";
constexpr std::string_view announce_about =
    "Drives announce load at a BitTorrent tracker. Many simulated peers (distinct peer ids and "
    "ports; each: started, periodic announces, half the leechers complete, stopped after 10 "
    "announces, then started again) announce at http://IPv4:PORT/PATH or udp://IPv4:PORT; the "
    "report gives announces per second, latency percentiles and errors by kind.";
constexpr std::string_view floor_about =
    "Times starting and reaping N processes that do nothing. They go through the same spawn "
    "path as swarm (fork, exec, own process group, output to a log file); prints the time of "
    "each repetition and their median.";

int run(int argc, char** argv) {
    apps::command_line cli(std::string(program), "Load generators for MiniBit.");
    swarm_flags sf;
    auto& swarm = cli.add_command("swarm", std::string(swarm_about));
    declare_swarm_shape(swarm, sf);
    declare_swarm_run(swarm, sf);
    swarm.footer(
        "Exit status: 0 when every surviving peer rebuilt an identical copy; 1 "
        "otherwise (including timeout); 2 on a usage error or a run this machine "
        "cannot carry (open files, CPUs); 128+N when stopped by signal N.");
    announce_flags af;
    auto& announce = cli.add_command("announce", std::string(announce_about));
    declare_announce(announce, af);
    announce.footer(
        "Exit status: 0 when every announce was answered; 1 when any failed or none "
        "was sent; 2 on a usage error.");
    floor_flags ff;
    auto& floor = cli.add_command("floor", std::string(floor_about));
    declare_floor(floor, ff);
    floor.footer("Exit status: 0 when every process exited 0; 1 otherwise; 2 on a usage error.");
    cli.app().footer(
        "Exit status: 0 success; 1 failure (see each command's --help); 2 usage "
        "error; 128+N stopped by signal N.");
    cli.enable_config();
    if (auto done = cli.parse(argc, argv)) return *done;
    const CLI::App* chosen = cli.command();
    try {
        if (chosen == &swarm) return lg::swarm_command(swarm_options_of(sf), format_of(sf.json));
        if (chosen == &announce)
            return lg::announce_command(announce_options_of(af), format_of(af.json));
    } catch (const usage_error& e) {
        return cli.refuse(e.what());
    }
    return lg::floor_command(ff.o, format_of(ff.json));
}

}  // namespace

int main(int argc, char** argv) {
    return apps::run_guarded(program, [&] { return run(argc, argv); });
}
