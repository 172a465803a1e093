// minibit-peer get / seed: flags to session_options, one reactor and one session (--threads 1)
// or a session_group on N reactor threads, a loop that prints progress on a terminal and ends
// on completion (+ --seed-for), --for, --timeout, a storage error or SIGINT/SIGTERM. Exit 0 on
// success, 1 on a runtime error, 2 on usage.
#include "transfer.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "../common/flags.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/worker_pool.hpp"
#include "minibit/swarm/session.hpp"
#include "minibit/swarm/session_group.hpp"
#include "status.hpp"

namespace {

using minibit::apps::flags;
using minibit::apps::usage_error;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::string_view get_help = R"(usage: minibit-peer get FILE.torrent [-o DIR] [options]
  Download the torrent into DIR (default .; created if missing, its parent must exist), verify
  every piece, exit 0 when complete (after seeding --seed-for seconds). Only the torrent's own
  files inside DIR are created or grown, never through a symbolic link; nothing is truncated.
  Restarting on a partial download keeps verified pieces (resume file beside the data). A get
  that ends with an error before any piece verified removes what it created.
)";
constexpr std::string_view seed_help =
    R"(usage: minibit-peer seed FILE.torrent DATA_PATH [--for SECONDS] [options]
  Serve a complete copy, read-only: nothing in DATA_PATH is created, written or resized, so
  read-only files, mounts and other users' readable files can be seeded. DATA_PATH is the save
  path, as in libtorrent: the folder that holds the torrent's file (single-file) or its top
  folder (multi-file); a path to the single file itself is accepted too. A missing file or one
  of the wrong size is refused (exit 1). The data is verified at start; the resume file in the
  state folder (or one a get left beside the data) makes that fast.
)";
constexpr std::string_view common_help = R"(options:
  --port N              listen port (0 = any; default 0)
  --listen ADDR         numeric address to listen on (default 0.0.0.0)
  --peer ADDR:PORT      connect to this peer too (repeatable; works without a tracker)
  --no-tracker          do not announce to the torrent's trackers
  --numwant N           peers to ask the tracker for (default 50)
  --timeout SECONDS     give up (exit 1) when not complete by then (default: never)
  --stats-json PATH     write the counters as JSON at exit, and every 0.5 s while running
  --complete-file PATH  create PATH (empty) as soon as every piece is verified, while the
                        process keeps running (lets a supervisor see completion early)
  --state-dir DIR       resume files that cannot live beside the data (seed: always), named
                        by info hash (default $XDG_STATE_HOME/minibit, else
                        ~/.local/state/minibit)
  --log PATH            log to this file; --log-level trace|debug|info|warn|error|off
  --io auto|uring|epoll reactor back end (default auto)
  --threads N           reactor threads serving the torrent (default 1): each has its own
                        connections and listener on the shared port (SO_REUSEPORT); pieces
                        are hashed on worker threads either way (docs/peer.md)
  --rechoke-interval S  seconds between choke decisions (default 10; use ~0.2 on a LAN)
  --max-peers N         connections at most (default 50)
  --request-timeout S   seconds before an unanswered request goes to another peer (default 20)
environment:
  SSL_CERT_FILE, CURL_CA_BUNDLE   PEM file of the authorities trusted for https:// trackers
                        (default: the system's store)
stderr: tracker failures and recoveries as they happen, a progress line on a terminal or a
status line every 5 s elsewhere, and one summary line at the end.
)";

std::atomic<int> stop_signal{0};

/// --stats-json is rewritten this often while running (atomically: temp file, then rename).
constexpr auto stats_every = 500ms;

extern "C" void on_stop_signal(int sig) {
    stop_signal.store(sig);
}

/// What the loop ends on.
struct run_plan {
    bool seed_mode = false;
    std::optional<double> linger_seconds;  ///< get: --seed-for; seed: --for
    std::optional<double> timeout_seconds;
    std::optional<std::string> stats_json;
    std::optional<std::string> complete_file;  ///< --complete-file: created on completion
};

std::vector<std::string> normalise(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    for (auto& a : args) {
        if (a == "-o") a = "--output";
    }
    return args;
}

const std::set<std::string, std::less<>> valued_flags = {"output",        "port",
                                                         "peer",          "numwant",
                                                         "seed-for",      "for",
                                                         "timeout",       "stats-json",
                                                         "complete-file", "log",
                                                         "log-level",     "io",
                                                         "threads",       "rechoke-interval",
                                                         "max-peers",     "request-timeout",
                                                         "listen",        "state-dir"};

void setup_logging(const flags& f) {
    const std::string level_text = f.get("log-level").value_or(f.has("log") ? "info" : "warn");
    const auto level = spdlog::level::from_str(level_text);
    if (level == spdlog::level::off && level_text != "off") {
        throw usage_error(
            fmt::format("--log-level must be trace, debug, info, warn, error or off"));
    }
    std::shared_ptr<spdlog::logger> logger;
    if (auto path = f.get("log")) {
        logger = spdlog::basic_logger_mt("minibit", *path, true);
    } else {
        logger = spdlog::stderr_color_mt("minibit");
    }
    logger->set_level(level);
    // info and above are rare (start, connections, completion) and must survive a SIGKILL.
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
}

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

minibit::swarm::session_options build_options(const flags& f) {
    minibit::swarm::session_options o;
    o.port = static_cast<std::uint16_t>(f.get_uint("port", 0, 65535).value_or(0));
    o.listen_host = f.get("listen").value_or("0.0.0.0");
    for (const auto& text : f.all("peer")) {
        auto a = minibit::io::address::parse(text);
        if (!a) throw usage_error(fmt::format("--peer {}: {}", text, a.error().message()));
        o.peers.push_back(*a);
    }
    o.trackers = f.has("no-tracker") ? minibit::swarm::use_trackers::no
                                     : minibit::swarm::use_trackers::yes;
    o.tracker.numwant = static_cast<std::uint32_t>(f.get_uint("numwant", 0, 1000).value_or(50));
    if (auto s = f.get_seconds("rechoke-interval")) {
        if (*s < 0.01) throw usage_error("--rechoke-interval must be at least 0.01 s");
        o.torrent.rechoke_interval = to_ms(*s);
        o.torrent.tick_interval = std::min(o.torrent.tick_interval, o.torrent.rechoke_interval);
    }
    if (auto s = f.get_seconds("request-timeout")) {
        if (*s < 0.1) throw usage_error("--request-timeout must be at least 0.1 s");
        o.torrent.request_timeout = to_ms(*s);
    }
    o.torrent.max_peers = static_cast<std::uint32_t>(
        f.get_uint("max-peers", 1, 10000).value_or(50));
    o.torrent.hashing = std::make_shared<minibit::io::worker_pool>();  // one per core
    return o;
}

/// --state-dir, else $XDG_STATE_HOME/minibit (absolute only, as the XDG spec says), else
/// $HOME/.local/state/minibit; empty without any (no resume file where it cannot go beside
/// the data: the next start verifies by hashing).
std::filesystem::path state_dir(const flags& f) {
    if (auto dir = f.get("state-dir")) {
        if (dir->empty()) throw usage_error("--state-dir needs a folder");
        return *dir;
    }
    const char* xdg = std::getenv("XDG_STATE_HOME");
    if (xdg != nullptr && xdg[0] == '/') return std::filesystem::path(xdg) / "minibit";
    const char* home = std::getenv("HOME");
    if (home != nullptr && home[0] != '\0') {
        return std::filesystem::path(home) / ".local" / "state" / "minibit";
    }
    return {};
}

minibit::io::backend_kind backend_of(const flags& f) {
    auto kind = minibit::io::parse_backend_kind(f.get("io").value_or("auto"));
    if (!kind) throw usage_error(kind.error().message());
    return *kind;
}

void write_stats(const run_plan& plan, const minibit::swarm::torrent& t) {
    if (!plan.stats_json) return;
    const std::string tmp = *plan.stats_json + ".part";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << minibit::swarm::to_json(t.stats()) << '\n';
        if (!out) {
            spdlog::error("cannot write {}", tmp);
            return;
        }
    }
    std::rename(tmp.c_str(), plan.stats_json->c_str());
}

/// Creates the --complete-file marker (written under a temporary name, then renamed).
void write_complete_marker(const run_plan& plan) {
    if (!plan.complete_file) return;
    const std::string tmp = *plan.complete_file + ".part";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) {
            spdlog::error("cannot write {}", tmp);
            return;
        }
    }
    std::rename(tmp.c_str(), plan.complete_file->c_str());
}

/// Where the loop stands: keep going, or stop with an exit status and a message.
struct verdict {
    bool stop = false;
    int status = 0;
    std::string message;
};

/// "timed out with 3/512 pieces", naming the trackers that fail or stay silent.
std::string timeout_message(std::uint32_t have, std::uint32_t count,
                            const minibit::apps::status_printer& printer) {
    std::string text = fmt::format("timed out with {}/{} pieces", have, count);
    if (const auto problems = printer.tracker_problems(); !problems.empty()) {
        text += "; " + problems;
    }
    return text;
}

/// The summary's word for how the run ended.
std::string_view outcome_of(const run_plan& plan, const verdict& v) {
    if (v.status == 0) return plan.seed_mode ? "ended" : "complete";
    if (v.message.starts_with("timed out")) return "timed out";
    if (v.message.starts_with("interrupted")) return "interrupted";
    return "failed";
}

/// Decides after each loop turn whether the run is over.
verdict judge(const run_plan& plan, const minibit::swarm::session& s, steady::time_point started,
              std::optional<steady::time_point> completed_at,
              const std::optional<minibit::error>& failure,
              const minibit::apps::status_printer& printer) {
    const auto now = steady::now();
    const auto since = [&](steady::time_point t) {
        return std::chrono::duration<double>(now - t).count();
    };
    if (failure) return {true, 1, failure->message()};
    if (stop_signal.load() != 0) {
        if (!plan.seed_mode && !completed_at) {
            return {true, 1, "interrupted before the download completed"};
        }
        return {true, 0, ""};
    }
    if (plan.seed_mode && plan.linger_seconds && since(started) >= *plan.linger_seconds) {
        return {true, 0, ""};
    }
    if (!plan.seed_mode && completed_at &&
        since(*completed_at) >= plan.linger_seconds.value_or(0.0)) {
        return {true, 0, ""};
    }
    if (!completed_at && plan.timeout_seconds && since(started) >= *plan.timeout_seconds) {
        return {
            true, 1,
            timeout_message(s.get().stats().pieces_have, s.get().info().piece_count(), printer)};
    }
    return {};
}

minibit::apps::progress_sample sample_of(const minibit::swarm::torrent& t,
                                         steady::time_point started) {
    return {t.stats(), t.bytes_left(),
            std::chrono::duration<double>(steady::now() - started).count()};
}

/// Stops the session (stopped announce, bounded wait), writes the stats, prints the error line.
int finish(minibit::io::reactor& reactor, minibit::swarm::session& s, const run_plan& plan,
           const verdict& v, minibit::apps::status_printer& printer, steady::time_point started) {
    bool stopped = false;
    s.stop([&stopped] { stopped = true; });
    const auto stop_deadline = steady::now() + 3s;
    while (!stopped && steady::now() < stop_deadline) {
        (void)reactor.run_once(50ms);
    }
    write_stats(plan, s.get());
    printer.finish(sample_of(s.get(), started), outcome_of(plan, v));
    if (v.status != 0) {
        fmt::print(stderr, "minibit-peer: {}\n", v.message);
    }
    return v.status;
}

/// Runs the loop; returns the exit status.
int run(minibit::io::reactor& reactor, minibit::swarm::session& s, const run_plan& plan,
        minibit::apps::status_printer& printer) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGPIPE, SIG_IGN);
    std::optional<minibit::error> failure;
    s.get().set_on_error([&failure](const minibit::error& e) { failure = e; });
    s.start();
    const auto started = steady::now();
    std::optional<steady::time_point> completed_at;
    auto last_stats = started;
    verdict v;
    while (!v.stop) {
        if (auto r = reactor.run_once(100ms); !r) {
            v = {true, 1, r.error().message()};
            break;
        }
        const auto now = steady::now();
        if (!completed_at && s.get().complete()) {
            completed_at = now;
            write_complete_marker(plan);
        }
        printer.tick(sample_of(s.get(), started));
        if (plan.stats_json && now - last_stats >= stats_every) {
            write_stats(plan, s.get());  // a supervisor (or a test) can follow the progress
            last_stats = now;
        }
        v = judge(plan, s, started, completed_at, failure, printer);
    }
    return finish(reactor, s, plan, v, printer, started);
}

/// The --threads > 1 loop: the group runs on its own threads; this thread watches and prints.
int run_group(minibit::swarm::session_group& g, const run_plan& plan,
              minibit::apps::status_printer& printer) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGPIPE, SIG_IGN);
    const auto started = steady::now();
    std::optional<steady::time_point> completed_at;
    const auto since = [](steady::time_point t) {
        return std::chrono::duration<double>(steady::now() - t).count();
    };
    const auto sample = [&] {
        auto st = g.stats();
        st.piece_count = g.info().piece_count();
        st.pieces_have = g.pieces_have();
        // The group knows pieces, not bytes: estimate what is left from the piece count.
        const std::uint64_t left = st.piece_count == 0
                                       ? 0
                                       : g.info().total_length / st.piece_count *
                                             (st.piece_count -
                                              std::min(st.piece_count, st.pieces_have));
        return minibit::apps::progress_sample{st, left, since(started)};
    };
    verdict v;
    while (!v.stop) {
        std::this_thread::sleep_for(completed_at ? 100ms : 20ms);
        const auto now = steady::now();
        if (!completed_at && g.complete()) {
            completed_at = now;
            write_complete_marker(plan);
        }
        printer.tick(sample());
        if (auto failure = g.failure()) {
            v = {true, 1, failure->message()};
        } else if (stop_signal.load() != 0) {
            v = (!plan.seed_mode && !completed_at)
                    ? verdict{true, 1, "interrupted before the download completed"}
                    : verdict{true, 0, ""};
        } else if (plan.seed_mode && plan.linger_seconds &&
                   since(started) >= *plan.linger_seconds) {
            v = {true, 0, ""};
        } else if (!plan.seed_mode && completed_at &&
                   since(*completed_at) >= plan.linger_seconds.value_or(0.0)) {
            v = {true, 0, ""};
        } else if (!completed_at && plan.timeout_seconds &&
                   since(started) >= *plan.timeout_seconds) {
            v = {true, 1, timeout_message(g.pieces_have(), g.info().piece_count(), printer)};
        }
    }
    g.stop();
    if (plan.stats_json) {
        const std::string tmp = *plan.stats_json + ".part";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << minibit::swarm::to_json(g.stats()) << '\n';
        }
        std::rename(tmp.c_str(), plan.stats_json->c_str());
    }
    printer.finish(sample(), outcome_of(plan, v));
    if (v.status != 0) fmt::print(stderr, "minibit-peer: {}\n", v.message);
    return v.status;
}

/// Parses the command line of get or seed into the loop's plan (usage errors throw).
run_plan make_plan(const flags& f, bool seed_mode) {
    const std::size_t want_positional = seed_mode ? 2 : 1;
    if (f.positional().size() != want_positional) {
        throw usage_error(seed_mode ? "seed needs FILE.torrent and DATA_PATH"
                                    : "get needs exactly one FILE.torrent");
    }
    if (seed_mode && (f.has("output") || f.has("seed-for"))) {
        throw usage_error("seed takes DATA_PATH and --for, not -o or --seed-for");
    }
    if (!seed_mode && f.has("for")) throw usage_error("get takes --seed-for, not --for");
    run_plan plan;
    plan.seed_mode = seed_mode;
    plan.linger_seconds = f.get_seconds(seed_mode ? "for" : "seed-for");
    plan.timeout_seconds = f.get_seconds("timeout");
    plan.stats_json = f.get("stats-json");
    plan.complete_file = f.get("complete-file");
    return plan;
}

/// libtorrent's convention: the save path holds the torrent's file or top folder; a path to
/// the single file itself is turned into its folder. Every file must exist.
std::filesystem::path seed_folder(std::filesystem::path data, const minibit::metainfo& info) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(data, ec) && !info.multi_file) {
        data = std::filesystem::absolute(data).parent_path();
    }
    for (const auto& file : info.files) {
        if (!std::filesystem::exists(data / file.path, ec)) {
            throw std::runtime_error(fmt::format(
                "{} is missing: DATA_PATH must be the folder that holds the torrent's data",
                (data / file.path).string()));
        }
    }
    return data;
}

int transfer(int argc, char** argv, bool seed_mode) {
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            fmt::print("{}{}", seed_mode ? seed_help : get_help, common_help);
            return 0;
        }
    }
    auto args = normalise(argc, argv);
    std::vector<char*> ptrs;
    for (auto& a : args) ptrs.push_back(a.data());
    const flags f(static_cast<int>(ptrs.size()), ptrs.data(), 2, valued_flags, {"no-tracker"});
    const run_plan plan = make_plan(f, seed_mode);
    setup_logging(f);
    auto options = build_options(f);
    options.store.state_dir = state_dir(f);
    minibit::apps::status_printer printer(stderr, seed_mode);
    options.tracker.on_status = [&printer](const minibit::swarm::tracker_status& st) {
        printer.on_tracker(st);
    };
    if (seed_mode) options.store.access = minibit::storage::access_mode::read_only;
    const auto kind = backend_of(f);
    auto info = minibit::load_metainfo(f.positional()[0]);
    if (!info) throw std::runtime_error(info.error().message());
    const std::filesystem::path folder = seed_mode
                                             ? seed_folder(f.positional()[1], *info)
                                             : std::filesystem::path(f.get("output").value_or("."));
    const auto threads = static_cast<unsigned>(f.get_uint("threads", 1, 64).value_or(1));
    if (threads > 1) {
        minibit::swarm::group_options go;
        go.threads = threads;
        go.backend = kind;
        auto g = minibit::swarm::session_group::start(std::move(*info), folder, options, go);
        if (!g) throw std::runtime_error(g.error().message());
        if (seed_mode && !(*g)->complete()) {
            const auto have = (*g)->pieces_have();
            const auto count = (*g)->info().piece_count();
            (*g)->stop(0ms);
            throw std::runtime_error(
                fmt::format("{} holds {}/{} verified pieces, not a complete copy", folder.string(),
                            have, count));
        }
        spdlog::info("listening on port {} with {} reactor threads", (*g)->port(), threads);
        return run_group(**g, plan, printer);
    }
    auto reactor = minibit::io::make_reactor(kind, {});
    if (!reactor) throw std::runtime_error(reactor.error().message());
    auto s = minibit::swarm::session::open(**reactor, std::move(*info), folder, options);
    if (!s) throw std::runtime_error(s.error().message());
    if (seed_mode && !(*s)->get().complete()) {
        const auto st = (*s)->get().stats();
        throw std::runtime_error(fmt::format("{} holds {}/{} verified pieces, not a complete copy",
                                             folder.string(), st.pieces_have, st.piece_count));
    }
    spdlog::info("listening on port {}", (*s)->port());
    return run(**reactor, **s, plan, printer);
}

}  // namespace

int cmd_get(int argc, char** argv) {
    return transfer(argc, argv, false);
}

int cmd_seed(int argc, char** argv) {
    return transfer(argc, argv, true);
}
