// The rate caps' token bucket: time is passed in, so every figure is exact. A sender that
// sends whenever the bucket lets it moves the cap's bytes per second, never more than one
// burst ahead; threads charging at once lose no charge; a changed cap applies at once.
#include "minibit/swarm/rate_limiter.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using minibit::swarm::limiter_charge;
using minibit::swarm::limiter_set;
using minibit::swarm::limiter_wait;
using minibit::swarm::rate_limiter;
using namespace std::chrono_literals;

const rate_limiter::clock::time_point start = rate_limiter::clock::time_point{} + 1000s;

/// Bytes a greedy sender of `block`-byte messages gets through `l` in `span`, sending each
/// message as soon as wait() says zero (time jumps to the end of each wait).
std::uint64_t greedy_bytes(rate_limiter& l, std::uint64_t block, std::chrono::nanoseconds span) {
    auto now = start;
    std::uint64_t sent = 0;
    while (now < start + span) {
        const auto w = l.wait(now);
        if (w > 0ns) {
            now += w;
            continue;
        }
        l.charge(block, now);
        sent += block;
    }
    return sent;
}

TEST(RateLimiter, AnUncappedBucketNeverWaits) {
    rate_limiter l;
    l.charge(1U << 30U, start);
    EXPECT_EQ(l.wait(start), 0ns);
}

TEST(RateLimiter, AGreedySenderMovesTheCapPerSecondPlusAtMostOneBurst) {
    rate_limiter l(2U << 20U);
    const auto sent = greedy_bytes(l, 16384, 10s);
    const double expected = 10.0 * (2U << 20U);
    EXPECT_GE(double(sent), expected);
    EXPECT_LE(double(sent), expected + 0.1 * (2U << 20U) + 2 * 16384);
}

TEST(RateLimiter, ABlockLargerThanTheBurstOverdrawsAndTheDebtIsWaitedOut) {
    rate_limiter l(1000);
    EXPECT_EQ(l.wait(start), 0ns);
    l.charge(5000, start);  // 5 s at the cap, 0.1 s of it prepaid
    EXPECT_EQ(l.wait(start), 4900ms);
    EXPECT_EQ(l.wait(start + 4900ms), 0ns);
}

TEST(RateLimiter, ANewCapAppliesAtOnceAndForgivesTheOldDebt) {
    rate_limiter l(1000);
    l.charge(100000, start);
    EXPECT_GT(l.wait(start), 90s);
    l.set_rate(1U << 20U);
    EXPECT_EQ(l.wait(start), 0ns);
    EXPECT_EQ(l.rate(), 1U << 20U);
    l.set_rate(0);
    l.charge(1U << 30U, start);
    EXPECT_EQ(l.wait(start), 0ns);
}

TEST(RateLimiter, ThreadsChargingAtOnceLoseNoCharge) {
    rate_limiter l(1'000'000'000);  // 1 byte per nanosecond: the debt in ns is the bytes
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) l.charge(1000, start);
        });
    }
    for (auto& t : threads) t.join();
    // 40 MB from a full bucket (100 ms of credit): paid until exactly start - 60 ms.
    EXPECT_EQ(l.wait(start - 60ms), 0ns);
    EXPECT_EQ(l.wait(start - 60ms - 1ns), 1ns);
}

TEST(RateLimiter, ASetWaitsForItsSlowestBucketAndChargesEvery) {
    auto fast = std::make_shared<rate_limiter>(1'000'000);
    auto slow = std::make_shared<rate_limiter>(1000);
    const limiter_set set{fast, slow};
    limiter_charge(set, 1100, start);
    EXPECT_EQ(limiter_wait(set, start), 1s);
    EXPECT_EQ(fast->wait(start), 0ns);
    const limiter_set empty{};
    EXPECT_EQ(limiter_wait(empty, start), 0ns);
}

}  // namespace
