#include "minibit/swarm/peer_policy.hpp"

#include <algorithm>
#include <vector>

namespace minibit::swarm {

std::uint32_t pipeline_target(const pipeline_input& in, const torrent_options& opt) {
    std::uint32_t target = opt.initial_requests;
    if (in.snubbed) {
        target = snubbed_requests;
    } else if (in.received_any) {
        const double rtts = std::chrono::duration<double>(in.min_round_trip).count() *
                            opt.pipeline_round_trips;
        const double seconds = std::max(opt.pipeline_seconds, rtts);
        const double blocks = in.download_rate * seconds / double{block_size_bytes};
        target = static_cast<std::uint32_t>(std::clamp(
            blocks, static_cast<double>(opt.min_requests), static_cast<double>(opt.max_requests)));
    }
    return std::min(target, std::max<std::uint32_t>(in.peer_reqq, 1));
}

bool keep_newer_connection(const wire::peer_id& ours, const wire::peer_id& theirs,
                           dialled_by newer) {
    const bool keep_ours_dialled = ours < theirs;
    return (newer == dialled_by::us) == keep_ours_dialled;
}

void rtt_estimator::sample(duration rtt) {
    rtt = std::max(rtt, duration{0});
    if (!known_) {
        srtt_ = rtt;
        rttvar_ = rtt / 2;
        min_ = rtt;
        known_ = true;
        return;
    }
    // RFC 6298 2.3: RTTVAR first (with the old SRTT), then SRTT.
    const duration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
    min_ = std::min(min_, rtt);
}

std::chrono::milliseconds request_timeout(const rtt_estimator& blocks, const torrent_options& opt) {
    using std::chrono::milliseconds;
    if (opt.request_timeout > milliseconds{0}) {
        return opt.request_timeout;
    }
    const milliseconds floor = opt.min_request_timeout;
    const milliseconds ceiling = std::max(floor, opt.max_request_timeout);
    if (!blocks.known()) {
        return std::clamp(initial_request_timeout, floor, ceiling);
    }
    const auto rto = std::max(2 * blocks.smoothed(), blocks.smoothed() + 4 * blocks.deviation()) +
                     opt.tick_interval;
    return std::clamp(std::chrono::ceil<milliseconds>(rto), floor, ceiling);
}

std::chrono::milliseconds rechoke_period(std::span<const std::chrono::microseconds> round_trips,
                                         const torrent_options& opt) {
    using std::chrono::milliseconds;
    if (opt.rechoke_interval > milliseconds{0}) {
        return opt.rechoke_interval;
    }
    const milliseconds floor = opt.min_rechoke_interval;
    const milliseconds ceiling = std::max(floor, opt.max_rechoke_interval);
    if (round_trips.empty()) {
        return floor;
    }
    std::vector<std::chrono::microseconds> sorted(round_trips.begin(), round_trips.end());
    const auto mid = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
    std::nth_element(sorted.begin(), mid, sorted.end());
    const auto period = *mid * (rechoke_windows * rate_window_rtts);
    return std::clamp(std::chrono::ceil<milliseconds>(period), floor, ceiling);
}

}  // namespace minibit::swarm
