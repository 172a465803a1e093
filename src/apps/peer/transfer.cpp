// minibit-peer get / seed: one reactor and one session (--threads 1)
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

#include "minibit/core/human_units.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/worker_pool.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/session.hpp"
#include "minibit/swarm/session_group.hpp"
#include "status.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

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

void setup_logging(const minibit::apps::transfer_request& r) {
    const auto level = spdlog::level::from_str(r.log_level);
    std::shared_ptr<spdlog::logger> logger;
    if (r.log_file) {
        logger = spdlog::basic_logger_mt("minibit", *r.log_file, true);
    } else {
        logger = spdlog::stderr_color_mt("minibit");
    }
    logger->set_level(level);
    // info and above are rare (start, connections, completion) and must survive a SIGKILL.
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
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
        } else if ((plan.seed_mode && plan.linger_seconds &&
                    since(started) >= *plan.linger_seconds) ||
                   (!plan.seed_mode && completed_at &&
                    since(*completed_at) >= plan.linger_seconds.value_or(0.0))) {
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

/// What to do with a multi-file torrent's files found directly in `data` (where MiniBit put
/// them before it followed BEP 3) instead of in data/<name>/.
std::string flat_layout_note(const minibit::metainfo& info, const std::filesystem::path& data) {
    return fmt::format(
        "the files of {} lie directly in {}, but a multi-file torrent's files belong in its top "
        "folder {}/ (BEP 3, as libtorrent and Transmission lay them out): move them there",
        info.name, data.string(), (data / info.name).string());
}

/// libtorrent's convention: the save path holds the torrent's file (single-file) or its top
/// folder `name` (multi-file). The file or top folder itself is accepted too and turned into
/// its parent (a multi-file path only when it holds no `name` of its own). Every file must
/// exist.
std::filesystem::path seed_folder(std::filesystem::path data, const minibit::metainfo& info) {
    std::error_code ec;
    data = std::filesystem::absolute(data, ec).lexically_normal();
    if (!data.has_filename()) data = data.parent_path();  // "album/" names album
    if (info.multi_file) {
        if (data.filename() == info.name && std::filesystem::is_directory(data, ec) &&
            !std::filesystem::exists(data / info.name, ec))
            data = data.parent_path();
    } else if (std::filesystem::is_regular_file(data, ec)) {
        data = data.parent_path();
    }
    if (minibit::storage::flat_layout_found(info, data))
        throw std::runtime_error(flat_layout_note(info, data));
    for (const auto& file : info.files) {
        if (!std::filesystem::exists(data / file.path, ec)) {
            throw std::runtime_error(fmt::format(
                "{} is missing: DATA_PATH must be the folder that holds {} '{}' (or {} itself)",
                (data / file.path).string(),
                info.multi_file ? "the torrent's top folder" : "the file", info.name,
                info.multi_file ? "that folder" : "the file"));
        }
    }
    return data;
}

/// The one line saying what runs where: "seeding NAME on port N (info_hash HEX)".
void print_start(const minibit::apps::transfer_request& r, const minibit::metainfo& info,
                 std::uint16_t port) {
    fmt::print("{} {} on port {} (info_hash {})\n", r.seed_mode ? "seeding" : "getting", info.name,
               port, info.hash.hex());
    std::fflush(stdout);
}

}  // namespace

namespace minibit::apps {

int transfer(const transfer_request& r) {
    const bool seed_mode = r.seed_mode;
    const run_plan plan{seed_mode, r.linger_seconds, r.timeout_seconds, r.stats_json,
                        r.complete_file};
    setup_logging(r);
    auto options = r.session;
    minibit::apps::status_printer printer(stderr, seed_mode);
    options.tracker.on_status = [&printer](const minibit::swarm::tracker_status& st) {
        printer.on_tracker(st);
    };
    if (seed_mode) options.store.access = minibit::storage::access_mode::read_only;
    const auto kind = r.backend;
    auto info = minibit::load_metainfo(r.torrent);
    if (!info) throw std::runtime_error(info.error().message());
    const std::filesystem::path folder = seed_mode ? seed_folder(r.folder, *info) : r.folder;
    if (!seed_mode && minibit::storage::flat_layout_found(*info, folder))
        fmt::print(stderr, "minibit-peer: note: {}, or they are downloaded again\n",
                   flat_layout_note(*info, folder));
    const unsigned threads = r.threads;
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
        print_start(r, (*g)->info(), (*g)->port());
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
    print_start(r, (*s)->get().info(), (*s)->port());
    return run(**reactor, **s, plan, printer);
}

}  // namespace minibit::apps
