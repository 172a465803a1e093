// minibit-loadgen: load generators for MiniBit. `swarm` runs a tracker and N peers on
// 127.0.0.1 (one process each, or all in this process with --in-process), spreads a file's
// pieces over them, waits until every peer has rebuilt the file, checks every copy byte for
// byte and prints a table or JSON.
// Thin: parse flags, hand them to swarm_driver, print its report.
#include <sched.h>
#include <unistd.h>

#include <csignal>
#include <exception>
#include <filesystem>

#include <fmt/format.h>

#include "../common/flags.hpp"
#include "announce_cli.hpp"
#include "minibit/loadgen/commands.hpp"

namespace {

using minibit::apps::flags;
using minibit::apps::usage_error;
namespace lg = minibit::loadgen;

constexpr std::string_view usage_text = R"(usage: minibit-loadgen swarm [FLAGS]

Runs a minibit-tracker and N minibit-peer processes on 127.0.0.1, gives the peers their
starting pieces, waits until every peer has rebuilt the file (each peer keeps serving the
others until then), stops them all, compares every copy with the original byte for byte and
prints per-peer results, a summary and the wall time of the whole run.

  --peers N              peers (default 10)
  --file PATH            file to share (default files/original.txt, 1 MiB of text made if absent)
  --size BYTES           size of the generated file (without --file: files/original-BYTES.txt)
  --pieces N             piece count (default 100), or
  --piece-size BYTES     piece length
  --mode scatter|seed    scatter: every piece held by one peer (default); seed: peer 0 seeds
  --numwant N            peers each peer asks the tracker for (default 4)
  --kill K               SIGKILL K random peers mid-transfer (never the seeder)
  --timeout S            give up after S seconds, killing everything (default 60)
  --linger S             keep every peer seeding S more seconds once all completed (default 0)
  --seed N               random seed: file contents, piece spread, kill victims (default 1)
  --out DIR              download folders DIR/peer-N (default files/downloads)
  --logs DIR             logs DIR/peer-N.log, DIR/tracker.log (default logs)
  --tracker-bin PATH     default: minibit-tracker next to this program
  --peer-bin PATH        default: minibit-peer next to this program
  --io auto|uring|epoll  I/O back end of the peers and tracker (default auto)
  --log-level LEVEL      log level of the peers and tracker (default info)
  --rechoke-interval S   passed to every peer
  --keep                 keep the download folders after a successful run
  --json                 print one JSON object instead of the table
  --max-peers N          connections per peer at most (default 50)
  --probe-rate R         announces per second of a tracker latency probe while the swarm
                         runs (p50/p99/p999 in the report); default 50 with --in-process, else 0
  --in-process           host every peer in this process (real sockets and files) on
                         --threads reactor threads instead of one minibit-peer process each;
                         raises RLIMIT_NOFILE as N peers need. Logs: DIR/peers.log, the peer
                         index in every line
  --threads T            reactor threads for --in-process (default: one per core)
  --log-per-peer         with --in-process: DIR/peer-N.log per peer instead of DIR/peers.log
  --tracker-cpu N        run the tracker and the probe on CPU N and everything else (this
                         program's threads, the peers) on the other CPUs, so the swarm's load
                         does not queue the tracker (default: no placement)

Exit status: 0 when every surviving peer rebuilt an identical copy; 1 otherwise (including
timeout); 2 on a usage error; 128+N when stopped by signal N.
)";

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

void read_file_flags(const flags& f, lg::swarm_options& o) {
    const auto size = f.get_uint("size", 1, 1ULL << 30U);
    if (size) o.size_bytes = *size;
    if (auto file = f.get("file")) {
        o.file = *file;
        std::error_code ec;
        if (size && std::filesystem::exists(o.file, ec) &&
            std::filesystem::file_size(o.file, ec) != *size) {
            throw usage_error(fmt::format("--file {} exists with a size other than --size", *file));
        }
    } else if (size && *size != (1U << 20U)) {
        o.file = fmt::format("files/original-{}.txt", *size);
    }
    if (f.has("pieces") && f.has("piece-size"))
        throw usage_error("give --pieces or --piece-size, not both");
    o.pieces = static_cast<std::uint32_t>(f.get_uint("pieces", 1, 1U << 20U).value_or(o.pieces));
    o.piece_size_bytes = f.get_uint("piece-size", 1, 256ULL << 20U).value_or(0);
}

void read_hosting_flags(const flags& f, lg::swarm_options& o) {
    o.hosting = f.has("in-process") ? lg::peer_hosting::in_process : lg::peer_hosting::processes;
    const bool in_process = o.hosting == lg::peer_hosting::in_process;
    if (!in_process && (f.has("threads") || f.has("log-per-peer")))
        throw usage_error("--threads and --log-per-peer go with --in-process");
    o.threads = static_cast<unsigned>(f.get_uint("threads", 1, 256).value_or(0));
    o.logs = f.has("log-per-peer") ? lg::log_layout::per_peer : lg::log_layout::single_file;
    o.max_peers = static_cast<std::uint32_t>(f.get_uint("max-peers", 1, 10000).value_or(50));
    o.probe_rate = static_cast<double>(
        f.get_uint("probe-rate", 0, 1000).value_or(in_process ? 50 : 0));
    if (const auto cpu = f.get_uint("tracker-cpu", 0, CPU_SETSIZE - 1)) {
        o.tracker_cpu = static_cast<unsigned>(*cpu);
    }
}

lg::swarm_options read_options(const flags& f) {
    if (!f.positional().empty())
        throw usage_error(fmt::format("unexpected argument '{}'", f.positional()[0]));
    lg::swarm_options o;
    read_hosting_flags(f, o);
    o.peers = static_cast<std::uint32_t>(f.get_uint("peers", 1, 1000).value_or(o.peers));
    read_file_flags(f, o);
    const auto mode = f.get("mode").value_or("scatter");
    if (mode != "scatter" && mode != "seed") throw usage_error("--mode must be scatter or seed");
    o.mode = mode == "seed" ? lg::start_mode::seed : lg::start_mode::scatter;
    if (o.mode == lg::start_mode::seed && o.peers < 2)
        throw usage_error("--mode seed needs --peers 2 or more");
    o.numwant = static_cast<std::uint32_t>(f.get_uint("numwant", 1, 1000).value_or(o.numwant));
    const std::uint32_t killable = o.mode == lg::start_mode::seed ? o.peers - 2 : o.peers - 1;
    o.kill = static_cast<std::uint32_t>(f.get_uint("kill", 0, killable).value_or(0));
    o.timeout = to_ms(f.get_seconds("timeout").value_or(60.0));
    if (o.timeout.count() <= 0 || o.timeout > std::chrono::hours(24))
        throw usage_error("--timeout must be in (0, 86400] seconds");
    o.linger = to_ms(f.get_seconds("linger").value_or(0.0));
    o.seed = f.get_uint("seed", 0, ~0ULL).value_or(o.seed);
    o.tracker_bin = f.get("tracker-bin").value_or("");
    o.peer_bin = f.get("peer-bin").value_or("");
    o.out_dir = f.get("out").value_or(o.out_dir.string());
    o.log_dir = f.get("logs").value_or(o.log_dir.string());
    o.io = f.get("io").value_or(o.io);
    if (o.io != "auto" && o.io != "uring" && o.io != "epoll")
        throw usage_error("--io must be auto, uring or epoll");
    o.log_level = f.get("log-level").value_or(o.log_level);
    o.rechoke_seconds = f.get_seconds("rechoke-interval");
    o.keep = f.has("keep") ? lg::keep_folders::yes : lg::keep_folders::no;
    return o;
}

int cmd_swarm(int argc, char** argv) {
    const flags f(argc, argv, 2,
                  {"peers", "file", "size", "pieces", "piece-size", "mode", "numwant", "kill",
                   "timeout", "linger", "seed", "out", "logs", "tracker-bin", "peer-bin", "io",
                   "log-level", "rechoke-interval", "max-peers", "probe-rate", "threads",
                   "tracker-cpu"},
                  {"json", "keep", "in-process", "log-per-peer"});
    return lg::swarm_command(read_options(f),
                             f.has("json") ? lg::report_format::json : lg::report_format::text);
}

int cmd_floor(int argc, char** argv) {
    const flags f(argc, argv, 2, {"processes", "program", "arg", "repeat", "logs"}, {"json"});
    if (!f.positional().empty())
        throw usage_error(fmt::format("unexpected argument '{}'", f.positional()[0]));
    lg::floor_options o;
    o.processes = static_cast<std::uint32_t>(f.get_uint("processes", 1, 1000).value_or(11));
    o.repeat = static_cast<std::uint32_t>(f.get_uint("repeat", 1, 1000).value_or(5));
    o.log_dir = f.get("logs").value_or("logs");
    o.program = f.get("program").value_or("/bin/true");
    o.args = f.all("arg");
    return lg::floor_command(o, f.has("json") ? lg::report_format::json : lg::report_format::text);
}

int dispatch(int argc, char** argv) {
    if (argc < 2) throw usage_error("missing COMMAND (try: minibit-loadgen help)");
    const std::string_view cmd = argv[1];
    if (cmd == "swarm") return cmd_swarm(argc, argv);
    if (cmd == "announce") return lg::cmd_announce(argc, argv);
    if (cmd == "floor") return cmd_floor(argc, argv);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        fmt::print("{}", usage_text);
        fmt::print("\n{}", lg::announce_usage);
        fmt::print("\nminibit-loadgen floor [--processes N] [--program PATH] [--repeat R] [--json]:\n"
                   "  start and reap N processes that do nothing (floor --help)\n");
        return 0;
    }
    throw usage_error(fmt::format("unknown command '{}' (try: minibit-loadgen help)", cmd));
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return dispatch(argc, argv);
    } catch (const usage_error& e) {
        fmt::print(stderr, "minibit-loadgen: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "minibit-loadgen: {}\n", e.what());
        return 1;
    }
}
