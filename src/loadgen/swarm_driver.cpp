#include "swarm_driver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cpu_affinity.hpp"
#include "folder_removal.hpp"
#include "minibit/core/metainfo.hpp"

namespace minibit::loadgen {
namespace {

constexpr int tracker_attempts = 5;  // a fresh port each time
constexpr std::chrono::milliseconds tracker_ready_wait{5'000};
constexpr std::chrono::milliseconds idle_poll{100};
constexpr std::chrono::milliseconds watch_poll{2};  // completion markers
constexpr std::chrono::milliseconds kill_poll{10};  // with --kill pending: reads every copy too
constexpr std::chrono::milliseconds ready_poll{2};  // TCP connect probes of the new tracker

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

result<std::vector<std::uint16_t>> free_ports(std::size_t count,
                                              std::span<const std::uint16_t> avoid) {
    // Every socket stays bound until all are found, so the ports differ; a port in `avoid`
    // (chosen earlier for a process that may not have bound it yet) is held but not used.
    std::vector<int> fds;
    std::vector<std::uint16_t> ports;
    auto close_all = [&fds] {
        for (int fd : fds) ::close(fd);
    };
    for (std::size_t tries = 0; ports.size() < count && tries < count + avoid.size() + 1; ++tries) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        fds.push_back(fd);
        sockaddr_in a = loopback(0);
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            break;
        }
        const std::uint16_t got = ntohs(a.sin_port);
        if (std::find(avoid.begin(), avoid.end(), got) == avoid.end()) ports.push_back(got);
    }
    const int err = errno;
    close_all();
    if (ports.size() != count) {
        return fail(loadgen_errc::io,
                    fmt::format("cannot find free ports: {}", std::strerror(err)));
    }
    return ports;
}

bool accepts_connections(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const sockaddr_in a = loopback(port);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

swarm_driver::swarm_driver(swarm_options options) : opts_(std::move(options)), rng_(opts_.seed) {
    report_.mode = opts_.mode;
    report_.numwant = opts_.numwant;
    report_.origin = opts_.origin;
    report_.uplink_rate = opts_.uplink_rate;
    report_.kills_requested = opts_.kill;
}

swarm_report swarm_driver::run() {
    started_ = clock::now();
    deadline_ = started_ + opts_.timeout;
    // g++ 12's std::expected has no and_then: one step after the other.
    auto& ph = report_.phases;
    const auto mark = [this](std::optional<double>& at) {
        at = seconds_between(started_, clock::now());
    };
    result<void> step{};
    if (opts_.tracker_cpu) step = leave_cpu_free(*opts_.tracker_cpu);
    if (step) step = prepare_original();
    if (step) step = launch_tracker();
    if (step) step = make_torrent();
    if (step) mark(ph.torrent_made);
    if (step) step = prepare_peers();
    if (step) mark(ph.peers_prepared);
    if (step) step = await_tracker();
    if (step && opts_.tracker_cpu) step = pin_process(tracker_->pid(), *opts_.tracker_cpu);
    if (step) mark(ph.tracker_ready);
    if (step) step = start_peers();
    if (!step) {
        report_.failure = step.error().message();
    } else {
        mark(ph.peers_started);
        watch_peers();
    }
    stop_peers();
    if (!peers_.empty()) mark(ph.peers_stopped);
    // The tracker shuts down while the copies are checked and the folders removed.
    if (tracker_ && !aborted()) tracker_->send(SIGTERM);
    fill_report();
    if (!peers_.empty()) mark(ph.copies_checked);
    report_.stop_signal = stop_signal();
    if (report_.success() && opts_.keep == keep_folders::no) {
        std::vector<std::filesystem::path> folders;
        folders.reserve(peers_.size());
        for (const auto& p : peers_) folders.push_back(p.plan.folder);
        report_.removal_detached = remove_in_background(opts_.out_dir, folders);
        mark(ph.folders_removed);
    }
    if (tracker_) tracker_->terminate(aborted() ? std::chrono::milliseconds(0) : stop_grace);
    // The whole run as the user waits for it: start to every process reaped and folders gone.
    report_.wall_seconds = seconds_between(started_, clock::now());
    return report_;
}

result<void> swarm_driver::prepare_original() {
    std::error_code ec;
    if (!std::filesystem::exists(opts_.file, ec)) {
        auto made = generate_text_file(opts_.file, opts_.size_bytes, opts_.seed);
        if (!made) return made;
    }
    auto mapped = mapped_file::open(opts_.file);
    if (!mapped) return std::unexpected(mapped.error());
    if (mapped->bytes().empty())
        return fail(loadgen_errc::io, fmt::format("{} is empty", opts_.file.string()));
    original_file_ = std::move(*mapped);
    original_ = original_file_.bytes();
    report_.file_bytes = original_.size();
    std::filesystem::create_directories(opts_.log_dir, ec);
    std::filesystem::remove(opts_.log_dir / "tracker.log", ec);
    std::filesystem::create_directories(opts_.out_dir, ec);
    if (ec)
        return fail(loadgen_errc::io,
                    fmt::format("cannot create {}: {}", opts_.out_dir.string(), ec.message()));
    return {};
}

// Starts the tracker on a fresh port without waiting for it (await_tracker does).
result<void> swarm_driver::launch_tracker() {
    // Not a port already planned for a peer (a tracker started again after they were planned).
    std::vector<std::uint16_t> planned;
    planned.reserve(peers_.size());
    for (const auto& p : peers_) planned.push_back(p.plan.port);
    auto port = free_ports(1, planned);
    if (!port) return std::unexpected(port.error());
    tracker_port_ = port->front();
    const std::vector<std::string> args = {
        "--http",         fmt::format("127.0.0.1:{}", tracker_port_),
        "--udp",          "off",
        "--interval",     "5",
        "--min-interval", "1",
        "--threads",      "1",
        "--io",           opts_.io,
        "--log-level",    opts_.log_level};
    auto child = child_process::spawn({opts_.tracker_bin, args, opts_.log_dir / "tracker.log"});
    if (!child) return std::unexpected(child.error());
    tracker_.emplace(std::move(*child));
    return {};
}

// The tracker starts while the torrent is made and the folders prepared; this waits until it
// accepts connections. A tracker that fails (its port taken meanwhile) is started again on
// another port, and the torrent made again for the new address.
result<void> swarm_driver::await_tracker() {
    const auto log = opts_.log_dir / "tracker.log";
    for (int attempt = 1;; ++attempt) {
        const auto ready_by = std::min(deadline_, clock::now() + tracker_ready_wait);
        while (!tracker_->poll() && clock::now() < ready_by && stop_signal() == 0) {
            if (accepts_connections(tracker_port_)) {
                report_.tracker_port = tracker_port_;
                return {};
            }
            wait_for_event(ready_poll);
        }
        if (stop_signal() != 0) return fail(loadgen_errc::interrupted, "interrupted");
        const std::string how = tracker_->running() ? "did not accept connections"
                                                    : tracker_->status()->describe();
        tracker_->kill_and_reap();
        if (clock::now() >= deadline_ || attempt >= tracker_attempts) break;
        fmt::print(stderr, "minibit-loadgen: tracker on port {} failed ({}), retrying\n",
                   tracker_port_, how);
        if (auto again = launch_tracker(); !again) return again;
        if (auto made = make_torrent(); !made) return made;
    }
    return fail(loadgen_errc::tracker_failed,
                fmt::format("minibit-tracker did not start; see {}", log.string()));
}

// The torrent is made in this process by the library call `minibit-peer create` uses (two
// process starts fewer before the peers can start), written to DIR/swarm.torrent and parsed back.
result<void> swarm_driver::make_torrent() {
    torrent_ = opts_.out_dir / "swarm.torrent";
    create_options co;
    co.trackers = {fmt::format("http://127.0.0.1:{}/announce", tracker_port_)};
    co.piece_length = opts_.piece_size_bytes;
    co.piece_count = opts_.piece_size_bytes > 0 ? 0 : opts_.pieces;
    auto bytes = create_torrent(opts_.file, co);
    if (!bytes) {
        return fail(loadgen_errc::torrent_failed,
                    fmt::format("cannot make a torrent of {}: {}", opts_.file.string(),
                                bytes.error().message()));
    }
    auto meta = parse_metainfo(*bytes);
    if (!meta) {
        return fail(loadgen_errc::torrent_failed,
                    fmt::format("the new torrent does not parse: {}", meta.error().message()));
    }
    {
        std::ofstream out(torrent_, std::ios::binary | std::ios::trunc);
        out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
        if (!out) {
            return fail(loadgen_errc::io, fmt::format("cannot write {}", torrent_.string()));
        }
    }
    geometry_.piece_length = meta->piece_length;
    geometry_.total_length = meta->total_length;
    name_ = meta->name;
    if (geometry_.piece_length == 0 || geometry_.total_length != original_.size() ||
        meta->multi_file || name_.empty() || name_.find('/') != std::string::npos || name_ == "." ||
        name_ == "..") {
        return fail(loadgen_errc::torrent_failed,
                    fmt::format("unexpected geometry in {}", torrent_.string()));
    }
    report_.piece_count = geometry_.piece_count();
    report_.piece_length = geometry_.piece_length;
    return {};
}

std::filesystem::path swarm_driver::copy_path(const peer_slot& slot) const {
    return slot.plan.folder / name_;
}

peer_plan swarm_driver::plan_for(std::uint32_t k, std::uint16_t port,
                                 std::chrono::milliseconds remaining) const {
    peer_plan p;
    p.index = k;
    p.torrent = torrent_;
    p.folder = opts_.out_dir / fmt::format("peer-{}", k);
    p.stats_json = opts_.log_dir / fmt::format("peer-{}.stats.json", k);
    p.complete_file = opts_.log_dir / fmt::format("peer-{}.complete", k);
    p.log = opts_.log_dir / fmt::format("peer-{}.log", k);
    p.port = port;
    p.numwant = opts_.numwant;
    p.max_peers = opts_.max_peers;
    // Every peer serves until the driver stops it (leechers signal completion by a marker).
    p.seed_for = remaining;
    p.timeout = remaining;
    p.io = opts_.io;
    p.log_level = opts_.log_level;
    p.rechoke_seconds = opts_.rechoke_seconds;
    p.upload_limit = opts_.uplink_rate;
    return p;
}

result<void> swarm_driver::prepare_peers() {
    note_nofile_limit();
    // Not the tracker's port: it is chosen before the tracker binds it (its start overlaps this).
    const std::array<std::uint16_t, 1> tracker = {tracker_port_};
    auto ports = free_ports(opts_.peers, tracker);
    if (!ports) return std::unexpected(ports.error());
    const auto spread = scatter_pieces(geometry_.piece_count(), opts_.peers, opts_.seed);
    std::vector<piece_index> all(geometry_.piece_count());
    for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = piece_index{i};
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ -
                                                                                 clock::now());
    for (std::uint32_t k = 0; k < opts_.peers; ++k) {
        peer_slot slot;
        slot.role = opts_.mode == start_mode::seed && k == 0 ? peer_role::seeder
                                                             : peer_role::leecher;
        slot.plan = plan_for(k, (*ports)[k], remaining);
        slot.plan.origin = opts_.origin && slot.role == peer_role::seeder;
        const peer_plan& p = slot.plan;
        std::error_code ec;
        std::filesystem::remove_all(p.folder, ec);
        std::filesystem::remove(p.stats_json, ec);
        std::filesystem::remove(p.complete_file, ec);
        std::filesystem::remove(p.log, ec);
        std::filesystem::create_directories(p.folder, ec);
        if (ec) {
            return fail(loadgen_errc::io,
                        fmt::format("cannot create {}: {}", p.folder.string(), ec.message()));
        }
        std::span<const piece_index> given;
        if (opts_.mode == start_mode::scatter) given = spread[k];
        if (slot.role == peer_role::seeder) given = all;
        if (!given.empty()) {
            auto written = write_partial_copy(original_, copy_path(slot), geometry_, given);
            if (!written) return written;
        }
        slot.start_pieces = static_cast<std::uint32_t>(given.size());
        slot.have.assign(geometry_.piece_count(), false);
        for (const piece_index i : given) slot.have[i.get()] = true;
        peers_.push_back(std::move(slot));
    }
    return {};
}

// Every peer is forked before any exec is awaited (the seeder first in seed mode, see
// await_seeder): started one after the other, the last of ten began 60-100 ms after the first.
result<void> swarm_driver::start_peers() {
    if (opts_.hosting == peer_hosting::in_process) {
        if (auto started = start_runtime(); !started) return started;
    }
    start_probe();
    for (auto& slot : peers_) {
        slot.host = make_host();
        slot.started_at = clock::now();
        auto started = slot.host->start(slot.plan);
        if (!started) return started;
        if (slot.role == peer_role::seeder) {
            if (auto ran = slot.host->confirm_start(); !ran) return ran;
            if (auto ready = await_seeder(slot); !ready) return ready;
        }
    }
    for (auto& slot : peers_) {
        if (auto ran = slot.host->confirm_start(); !ran) return ran;
    }
    return {};
}

// Seed mode: the leechers start once the seeder has verified its copy (its marker) and so has
// announced itself complete. Started together, leechers that announce before the seeder learn
// of it only at their next announce (--interval 5 s) or if it dials them, and a 256 MiB
// seeder's check outlasts every leecher's first announce.
result<void> swarm_driver::await_seeder(peer_slot& seeder) {
    while (!seeder.host->completed()) {
        if (seeder.host->poll()) {
            return fail(loadgen_errc::spawn_failed,
                        fmt::format("the seeder ended before serving ({}); see {}",
                                    seeder.host->status() ? seeder.host->status()->describe()
                                                          : std::string("unknown"),
                                    seeder.plan.log.string()));
        }
        if (stop_signal() != 0) return fail(loadgen_errc::interrupted, "interrupted");
        if (clock::now() >= deadline_) {
            return fail(loadgen_errc::timed_out, "the seeder did not finish checking its copy");
        }
        wait_for_event(watch_poll);
    }
    return {};
}

// Every peer runs until the driver stops it, so the run ends on the completion markers, not on
// exits: a leecher that exits on its own before completing has failed and will not come back.
void swarm_driver::watch_peers() {
    while (true) {
        observe_peers();
        if (stop_signal() != 0) return;
        if (all_completed()) {
            report_.phases.all_complete = seconds_between(started_, last_marker());
            break;
        }
        if (!any_pending()) return;  // the rest completed, but some leecher failed
        if (clock::now() >= deadline_) {
            report_.timed_out = true;
            return;
        }
        if (kills_done_ < opts_.kill) try_kill();
        wait_for_event(kills_done_ < opts_.kill ? kill_poll : watch_poll);
    }
    linger();
}

// Reaps peers that ended and notes the ones whose completion marker appeared.
void swarm_driver::observe_peers() {
    const auto now = clock::now();
    for (auto& s : peers_) {
        if (!s.ended && s.host->poll()) {
            s.ended = true;
            s.ended_at = now;
        }
        if (!s.completed_at && !s.killed && s.host->completed()) s.completed_at = now;
    }
    // Compare each finished copy while the others still transfer, not all of them after the
    // last one (nine 256 MiB copies took 1.5 s at the end); the end checks only what changed.
    if (any_pending()) check_finished_copies();
    sample_resources();
}

// Each completed copy not compared yet; its size and mtime tell later whether it changed.
void swarm_driver::check_finished_copies() {
    for (auto& s : peers_) {
        if (s.completed_at && !s.checked && s.role == peer_role::leecher) {
            const auto path = copy_path(s);
            const auto stamp = stamp_of(path);
            // A copy that could not be read now (out of descriptors) is compared again later.
            const auto same = stamp ? compare_copy(original_, path) : std::nullopt;
            if (same) s.checked = copy_check{*same, *stamp};
        }
    }
}

// When the last completion marker was seen (the run's start when there is none).
swarm_driver::clock::time_point swarm_driver::last_marker() const {
    auto last = started_;
    for (const auto& s : peers_) {
        if (s.completed_at) last = std::max(last, *s.completed_at);
    }
    return last;
}

bool swarm_driver::all_completed() const {
    return std::all_of(peers_.begin(), peers_.end(), [](const peer_slot& s) {
        return s.role != peer_role::leecher || s.killed || s.completed_at.has_value();
    });
}

// A leecher still running that has not completed yet.
bool swarm_driver::any_pending() const {
    return std::any_of(peers_.begin(), peers_.end(), [](const peer_slot& s) {
        return s.role == peer_role::leecher && !s.ended && !s.completed_at;
    });
}

// --linger: optional extra seeding after everyone completed, bounded by the deadline.
void swarm_driver::linger() {
    const auto until = std::min(deadline_, clock::now() + opts_.linger);
    while (stop_signal() == 0) {
        observe_peers();
        const auto now = clock::now();
        if (now >= until) return;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
        wait_for_event(std::min(idle_poll, left));
    }
}

bool swarm_driver::aborted() const {
    return report_.timed_out || stop_signal() != 0 || !report_.failure.empty();
}

}  // namespace minibit::loadgen
