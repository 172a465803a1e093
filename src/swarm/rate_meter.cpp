#include "minibit/swarm/rate_meter.hpp"

#include <algorithm>

namespace minibit::swarm {
namespace {

std::int64_t second_of(rate_meter::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

void rate_meter::advance(std::int64_t second) {
    if (current_second_ < 0) {
        current_second_ = second;
        first_second_ = second;
        return;
    }
    if (second <= current_second_) {
        return;
    }
    const auto steps = std::min<std::int64_t>(second - current_second_,
                                              static_cast<std::int64_t>(window_seconds));
    for (std::int64_t i = 1; i <= steps; ++i) {
        buckets_[static_cast<std::size_t>(current_second_ + i) % window_seconds] = 0;
    }
    current_second_ = second;
}

void rate_meter::add(std::uint64_t bytes, clock::time_point now) {
    advance(second_of(now));
    buckets_[static_cast<std::size_t>(current_second_) % window_seconds] += bytes;
    total_ += bytes;
}

double rate_meter::rate(clock::time_point now) const {
    if (current_second_ < 0) {
        return 0.0;
    }
    const std::int64_t now_s = second_of(now);
    std::uint64_t sum = 0;
    const auto window = static_cast<std::int64_t>(window_seconds);
    for (std::int64_t s = now_s - window + 1; s <= now_s; ++s) {
        if (s >= 0 && s <= current_second_ && s > current_second_ - window) {
            sum += buckets_[static_cast<std::size_t>(s) % window_seconds];
        }
    }
    // A meter younger than the window divides by its age, so a new fast peer is not undervalued.
    const std::int64_t age = std::clamp<std::int64_t>(now_s - first_second_ + 1, 1, window);
    return static_cast<double>(sum) / static_cast<double>(age);
}

}  // namespace minibit::swarm
