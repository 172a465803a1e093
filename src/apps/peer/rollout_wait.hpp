// `minibit-peer wait --tracker URL --info-hash HEX --complete N`: a deploy script's barrier.
// Polls the tracker's rollout JSON (/v1/torrents/HASH, MiniBit trackers) or, from a tracker
// without it, the scrape's `downloaded` count, until N hosts completed or the timeout passes.
#pragma once

#include <cstdint>
#include <string>

namespace minibit::apps {

/// What the tracker form of `wait` was asked.
struct rollout_wait_options {
    std::string tracker;  ///< the announce URL (…/announce) or the tracker's base URL
    std::string hash;     ///< 40 hex digits, checked by the caller
    std::uint32_t complete = 1;
    double timeout = 0;          ///< seconds; 0 waits forever
    double poll_interval = 1.0;  ///< seconds between two polls
    std::string token;           ///< bearer token for trackers with --protect-reads
};

/// Waits; returns 0 once `complete` hosts completed, 1 on timeout (printing the stragglers
/// the tracker knows of on stderr).
[[nodiscard]] int wait_for_rollout(const rollout_wait_options& o);

}  // namespace minibit::apps
