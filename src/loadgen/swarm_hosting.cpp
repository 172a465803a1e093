// The swarm driver's hosting and run figures: the open-file limit in force, the in-process
// reactor threads and the peers' log, the tracker probe and the resource samples, killing a
// peer mid-transfer (--kill) and stopping them all at the end.
#include <sys/resource.h>

#include <algorithm>

#include <fmt/format.h>

#include "minibit/loadgen/swarm_files.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "open_files.hpp"
#include "peer_log.hpp"
#include "swarm_driver.hpp"

namespace minibit::loadgen {
namespace {

// Open descriptors are counted at most this often: a scan of /proc/self/fd costs ~0.1 s of
// CPU at 18,000 descriptors (perf, 1000-peer run), so it is sampled, not watched.
constexpr std::chrono::milliseconds resource_sample_interval{3'000};

}  // namespace

// The open-file limit the in-process peers run under (commands.cpp fitted it before the run).
void swarm_driver::note_nofile_limit() {
    if (opts_.hosting != peer_hosting::in_process) return;
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) report_.figures.nofile_limit = lim.rlim_cur;
}

result<void> swarm_driver::start_runtime() {
    auto info = load_metainfo(torrent_);
    if (!info) return std::unexpected(info.error());
    info_ = std::make_shared<const metainfo>(std::move(*info));
    auto logged = install_peer_log(opts_.log_dir, opts_.logs, opts_.log_level);
    if (!logged) return logged;
    // The peers' connections share what the open-file limit leaves (commands.cpp fitted it).
    rlimit lim{};
    const std::uint32_t units = ::getrlimit(RLIMIT_NOFILE, &lim) == 0
                                    ? connection_units(opts_, lim.rlim_cur)
                                    : 0;
    auto rt = peer_runtime::start(opts_.threads, opts_.io, opts_.peers, units);
    if (!rt) return std::unexpected(rt.error());
    runtime_ = std::move(*rt);
    report_.figures.threads = runtime_->threads();
    if (units > 0) report_.figures.connection_budget = units;
    return {};
}

std::unique_ptr<peer_host> swarm_driver::make_host() const {
    if (runtime_) return make_inprocess_host(runtime_, info_);
    return make_process_host(opts_.peer_bin);
}

// The probe and the tracker's CPU clock start with the peers.
void swarm_driver::start_probe() {
    peers_started_at_ = clock::now();
    resources_sampled_at_ = peers_started_at_;
    if (tracker_) tracker_cpu_at_start_ = process_cpu_seconds(tracker_->pid());
    if (opts_.probe_rate <= 0 || tracker_port_ == 0) return;
    probe_ = std::make_unique<tracker_probe>(tracker_port_, opts_.probe_rate, opts_.numwant,
                                             deadline_, opts_.tracker_cpu);
    probe_->start();
}

void swarm_driver::sample_resources() {
    if (!runtime_) return;
    const auto now = clock::now();
    if (now - resources_sampled_at_ < resource_sample_interval) return;
    resources_sampled_at_ = now;
    auto& f = report_.figures;
    if (const auto fds = open_descriptors()) f.peak_fds = std::max(f.peak_fds.value_or(0), *fds);
    if (const auto anon = anon_rss_bytes()) {
        f.peak_anon_bytes = std::max(f.peak_anon_bytes.value_or(0), *anon);
    }
}

// Ends the measurement window: the swarm completed (or the run broke off).
void swarm_driver::finish_probe() {
    auto& f = report_.figures;
    f.hosting = opts_.hosting;
    if (peers_.empty() || peers_started_at_ == clock::time_point{}) return;
    resources_sampled_at_ = clock::time_point{};  // one sample now, however short the run
    sample_resources();
    // To the last completion when all completed; else to now.
    auto end = clock::now();
    if (all_completed()) {
        end = peers_started_at_;
        for (const auto& s : peers_) {
            if (s.completed_at) end = std::max(end, *s.completed_at);
        }
    }
    f.swarm_seconds = std::chrono::duration<double>(end - peers_started_at_).count();
    if (tracker_ && tracker_cpu_at_start_) {
        if (const auto now = process_cpu_seconds(tracker_->pid())) {
            f.tracker_cpu_seconds = *now - *tracker_cpu_at_start_;
        }
    }
    if (opts_.tracker_cpu && tracker_) {
        f.tracker_cpus = allowed_cpus(std::to_string(tracker_->pid()));
        f.driver_cpus = allowed_cpus("self");
    }
    if (probe_) {
        probe_->stop();
        f.probe = probe_->result();
    }
}

// After every peer ended: join the reactor threads, put the default log back.
void swarm_driver::end_runtime() {
    if (!runtime_) return;
    runtime_->shutdown();
    if (const auto budget = runtime_->connections()) {
        report_.figures.peak_connections = budget->peak();
    }
    remove_peer_log();
    report_.figures.max_rss_bytes = peak_rss_bytes();
}

bool swarm_driver::covered_without(std::size_t victim) const {
    for (std::uint32_t i = 0; i < geometry_.piece_count(); ++i) {
        bool held = false;
        for (std::size_t k = 0; k < peers_.size() && !held; ++k) {
            held = k != victim && !peers_[k].ended && peers_[k].have[i];
        }
        if (!held) return false;
    }
    return true;
}

// "Mid-transfer": the victim holds some but not all pieces, and every piece is still held by
// a live peer without it, so the survivors can finish. Never the seeder.
void swarm_driver::try_kill() {
    for (auto& s : peers_) {
        if (!s.ended) update_presence(original_, copy_path(s), geometry_, s.have);
    }
    std::vector<std::size_t> eligible;
    for (std::size_t k = 0; k < peers_.size(); ++k) {
        const auto& s = peers_[k];
        if (s.ended || s.role == peer_role::seeder) continue;
        const auto held = static_cast<std::size_t>(std::count(s.have.begin(), s.have.end(), true));
        if (held == 0 || held == s.have.size()) continue;
        if (covered_without(k)) eligible.push_back(k);
    }
    if (eligible.empty()) return;
    auto& victim = peers_[eligible[rng_() % eligible.size()]];
    victim.host->kill_now();
    victim.killed = true;
    victim.ended = true;
    victim.ended_at = clock::now();
    ++kills_done_;
}

// Normal end: SIGTERM every peer at once (each writes its stats and exits 0) and reap them; the
// tracker stays up for their stopped announces. Abort: SIGKILL every peer.
void swarm_driver::stop_peers() {
    finish_probe();
    const bool abort_run = aborted();
    // In-process peers all end at once on abort (not one kill and wait after the other).
    if (abort_run) end_runtime();
    for (auto& s : peers_) {
        if (!s.ended && s.host && !abort_run) s.host->request_stop();
    }
    // The last copies are compared while the peers stop (each makes its copy durable first).
    if (!abort_run) check_finished_copies();
    for (auto& s : peers_) {
        if (s.ended || !s.host) continue;
        if (abort_run) {
            s.host->kill_now();
        } else {
            s.host->stop(stop_grace);
        }
        s.ended = true;
        s.stopped = true;
    }
    end_runtime();
}

}  // namespace minibit::loadgen
