// Small pure decisions of the peer engine, kept apart so unit tests can table them: how many
// requests to keep in flight to a peer, which of two connections to the same peer survives, and
// the adaptive timers (a round-trip estimator, the request timeout and the rechoke period derived
// from it). Functions of plain values and one small value type; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// Requests kept in flight to a snubbed peer until it delivers again.
inline constexpr std::uint32_t snubbed_requests = 2;
/// A block that timed out with a peer is not asked of that peer again for this many of its
/// request timeouts (others may fetch it meanwhile; then it is asked again).
inline constexpr int avoid_after_timeout = 2;
/// A request still unanswered after this many request timeouts while the peer serves others
/// was skipped (lost, or held back by a hostile peer): it alone goes to other peers.
inline constexpr int skipped_after_timeouts = 4;

/// What the pipeline size depends on.
struct pipeline_input {
    double download_rate = 0.0;  ///< bytes/s from this peer over the meter's window
    bool received_any = false;   ///< false until the first block arrived (rate unknown)
    bool snubbed = false;
    std::uint32_t peer_reqq = 250;                ///< BEP 10 reqq the peer advertised
    std::chrono::microseconds min_round_trip{0};  ///< smallest block round trip, 0 = unknown
};

/// Outstanding requests to keep: rate x max(pipeline_seconds, pipeline_round_trips x
/// min_round_trip) in 16 KiB blocks, clamped to
/// [min_requests, max_requests], initial_requests before the first block, 2 when snubbed,
/// never above the peer's reqq.
[[nodiscard]] std::uint32_t pipeline_target(const pipeline_input& in, const torrent_options& opt);

/// Connections a torrent dials at most (connects in flight included): half of `max_peers`,
/// rounded up. The other half is kept for peers that dial us: when a hundred peers join at once
/// and each dials every address its tracker answer holds, the first max_peers + 1 fill each
/// other's limits and refuse every later peer, which then trade only among themselves until
/// the first ones complete (the 100-host testbed: the 51 late peers finished 14 s after the
/// rest). BitTorrent's first client kept the same split (dial 40, accept up to 80).
[[nodiscard]] constexpr std::uint32_t dial_limit(std::uint32_t max_peers) {
    return max_peers - max_peers / 2;
}

/// Who dialled a connection.
enum class dialled_by { us, them };

/// Two connections to one peer: both ends keep the one dialled by the smaller peer id. Returns
/// true when the connection dialled by `newer` should be kept (and the other one closed).
[[nodiscard]] bool keep_newer_connection(const wire::peer_id& ours, const wire::peer_id& theirs,
                                         dialled_by newer);

/// RFC 6298 estimator of a round trip: smoothed value (gain 1/8) and mean deviation (gain 1/4),
/// the first sample setting both (deviation = half of it), plus the smallest sample seen.
class rtt_estimator {
public:
    using duration = std::chrono::microseconds;
    /// Adds one measured round trip (negative values count as zero).
    void sample(duration rtt);
    /// False until the first sample.
    [[nodiscard]] bool known() const { return known_; }
    [[nodiscard]] duration smoothed() const { return srtt_; }
    [[nodiscard]] duration deviation() const { return rttvar_; }
    [[nodiscard]] duration minimum() const { return min_; }

private:
    duration srtt_{0};
    duration rttvar_{0};
    duration min_{0};
    bool known_ = false;
};

/// The request timeout before a peer delivered its first block (clamped like the others).
inline constexpr std::chrono::milliseconds initial_request_timeout{5000};

/// How long our oldest request to a peer may stay unanswered: options.request_timeout when set
/// (non-zero); otherwise max(2 x SRTT, SRTT + 4 x RTTVAR) + one tick over the peer's block round
/// trips (request to block, so its pipeline queue is inside: a slow but steady peer gets a long
/// timeout, a stall of a fast one is caught in seconds), initial_request_timeout before the
/// first block, clamped to [min_request_timeout, max_request_timeout].
[[nodiscard]] std::chrono::milliseconds request_timeout(const rtt_estimator& blocks,
                                                        const torrent_options& opt);

/// Round trips per rate-measurement window: TCP reaches its steady rate within about ten
/// round trips of slow start at the bandwidth-delay products we meet.
inline constexpr std::uint32_t rate_window_rtts = 10;
/// Rate windows per rechoke: tit-for-tat ranks on rates that have settled.
inline constexpr std::uint32_t rechoke_windows = 4;

/// The rechoke period: options.rechoke_interval when set (non-zero); otherwise rechoke_windows
/// x rate_window_rtts x the median of `round_trips` (40 RTT: 1 s at 25 ms, 8 s at 200 ms),
/// clamped to [min_rechoke_interval, max_rechoke_interval]; the minimum while no round trip is
/// known (a fresh torrent's first decisions come soon).
[[nodiscard]] std::chrono::milliseconds rechoke_period(
    std::span<const std::chrono::microseconds> round_trips, const torrent_options& opt);

}  // namespace minibit::swarm
