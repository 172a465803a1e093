// The swarm driver's results: one row per peer from what the driver saw (markers, exits, the
// early copy checks) and each peer's stats file, and the first block on the driver's clock.
#include <algorithm>
#include <chrono>

#include "swarm_driver.hpp"

namespace minibit::loadgen {
namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

peer_report swarm_driver::row_for(const peer_slot& s) const {
    peer_report r;
    r.index = s.plan.index;
    r.role = s.role;
    r.port = s.plan.port;
    r.start_pieces = s.start_pieces;
    const auto status = s.host ? s.host->status() : std::nullopt;
    r.exit = status ? status->describe() : std::string("not started");
    if (auto stats = read_peer_stats(s.plan.stats_json)) {
        r.counters = *stats;
        r.seconds_to_complete = stats->seconds_to_complete;
    }
    const bool identical = copy_identical(s);
    if (s.killed) {
        r.outcome = peer_outcome::killed;
    } else if (s.role == peer_role::seeder) {
        r.outcome = identical && (s.stopped || (status && status->success()))
                        ? peer_outcome::seeded
                        : peer_outcome::failed;
    } else if (s.completed_at) {
        // Completed, then stopped by the driver: a clean stop exits 0 (a SIGKILL on abort is ours).
        const bool clean = (status && status->success()) || (s.stopped && aborted());
        r.outcome = !identical ? peer_outcome::corrupt
                    : clean    ? peer_outcome::rebuilt
                               : peer_outcome::failed;
    } else if (s.stopped) {
        r.outcome = report_.timed_out    ? peer_outcome::timed_out
                    : stop_signal() != 0 ? peer_outcome::stopped
                                         : peer_outcome::failed;
    } else {
        r.outcome = peer_outcome::failed;  // ended on its own before completing
    }
    if (!r.seconds_to_complete && r.outcome == peer_outcome::rebuilt && s.completed_at) {
        // No stats file: the driver's view, from start to the marker.
        r.seconds_to_complete = seconds_between(s.started_at, *s.completed_at);
    }
    if (r.role == peer_role::seeder) r.seconds_to_complete.reset();
    return r;
}

// The early comparison when the copy is still the file then compared (same size and mtime),
// else a comparison now.
bool swarm_driver::copy_identical(const peer_slot& s) const {
    const auto path = copy_path(s);
    if (s.checked && stamp_of(path) == s.checked->stamp) return s.checked->identical;
    return identical_copy(original_, path);
}

void swarm_driver::fill_report() {
    for (const auto& s : peers_) report_.peers.push_back(row_for(s));
    note_first_block();
}

// On the driver's clock: a completion marker (seen within a poll) less the peer's own time from
// its first block to completion; the earliest over the leechers.
void swarm_driver::note_first_block() {
    for (std::size_t k = 0; k < peers_.size() && k < report_.peers.size(); ++k) {
        const auto& c = report_.peers[k].counters;
        const auto& done = peers_[k].completed_at;
        if (!done || !c || !c->seconds_to_complete || !c->seconds_to_first_block) continue;
        const double at = seconds_between(started_, *done) -
                          (*c->seconds_to_complete - *c->seconds_to_first_block);
        auto& first = report_.phases.first_block;
        first = std::min(first.value_or(at), at);
    }
}

}  // namespace minibit::loadgen
