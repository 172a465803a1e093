// rate_limiter: GCRA on one atomic. `paid_until_` is the time at which every byte charged so
// far has been paid for at the cap; charging n bytes moves it n / rate seconds on (from no
// earlier than now - burst, so an idle bucket holds at most `burst` of credit).
#include "minibit/swarm/rate_limiter.hpp"

#include <algorithm>

namespace minibit::swarm {
namespace {

std::int64_t nanos(rate_limiter::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

void rate_limiter::set_rate(std::uint64_t bytes_per_second) {
    rate_.store(bytes_per_second, std::memory_order_relaxed);
    paid_until_.store(0, std::memory_order_relaxed);
}

void rate_limiter::charge(std::uint64_t bytes, clock::time_point now) {
    const std::uint64_t r = rate();
    if (r == 0 || bytes == 0) {
        return;
    }
    // Whole seconds exactly, the rest in double (no overflow at any rate).
    const auto rest = static_cast<double>(bytes % r) * 1e9 / static_cast<double>(r);
    const auto cost = static_cast<std::int64_t>((bytes / r) * 1'000'000'000U +
                                                static_cast<std::uint64_t>(rest));
    const std::int64_t floor = nanos(now) - std::chrono::nanoseconds(burst).count();
    std::int64_t old = paid_until_.load(std::memory_order_relaxed);
    while (!paid_until_.compare_exchange_weak(old, std::max(old, floor) + cost,
                                              std::memory_order_relaxed)) {}
}

std::chrono::nanoseconds rate_limiter::wait(clock::time_point now) const {
    if (rate() == 0) {
        return std::chrono::nanoseconds::zero();
    }
    const std::int64_t ahead = paid_until_.load(std::memory_order_relaxed) - nanos(now);
    return std::chrono::nanoseconds(std::max<std::int64_t>(ahead, 0));
}

std::chrono::nanoseconds limiter_wait(const limiter_set& set, rate_limiter::clock::time_point now) {
    auto longest = std::chrono::nanoseconds::zero();
    for (const auto& l : set) {
        if (l) longest = std::max(longest, l->wait(now));
    }
    return longest;
}

void limiter_charge(const limiter_set& set, std::uint64_t bytes,
                    rate_limiter::clock::time_point now) {
    for (const auto& l : set) {
        if (l) l->charge(bytes, now);
    }
}

}  // namespace minibit::swarm
