#include "minibit/swarm/peer_policy.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace minibit::swarm;

struct pipeline_case {
    const char* name;
    pipeline_input in;
    std::uint32_t expected;
};

class PipelineTarget : public testing::TestWithParam<pipeline_case> {};

TEST_P(PipelineTarget, SizesTheRequestQueue) {
    const torrent_options opt;  // initial 24, min 16, max 256, 0.5 s (or 4 RTT) in flight
    EXPECT_EQ(pipeline_target(GetParam().in, opt), GetParam().expected);
}

constexpr double kib = 1024.0;

INSTANTIATE_TEST_SUITE_P(
    Table, PipelineTarget,
    testing::Values(
        pipeline_case{"UnknownRateStartsAtInitial", {0.0, false, false, 250}, 24},
        pipeline_case{"SlowPeerGetsTheFloor", {10 * kib, true, false, 250}, 16},
        pipeline_case{"RateTimesHalfASecondInBlocks", {1600 * kib, true, false, 250}, 50},
        pipeline_case{"RateTimesHalfASecondWhenTheRoundTripIsShort",
                      {1600 * kib, true, false, 250, std::chrono::milliseconds{20}},
                      50},
        pipeline_case{"FourRoundTripsWhenLongerThanHalfASecond",
                      {1600 * kib, true, false, 250, std::chrono::milliseconds{250}},
                      100},
        pipeline_case{"FastPeerHitsTheCeiling", {100 * 1024 * kib, true, false, 500}, 256},
        pipeline_case{"PeersReqqCaps", {1600 * kib, true, false, 40}, 40},
        pipeline_case{"ZeroReqqStillAllowsOne", {1600 * kib, true, false, 0}, 1},
        pipeline_case{"SnubbedPeerGetsTwo", {1600 * kib, true, true, 250}, 2}),
    [](const testing::TestParamInfo<pipeline_case>& p) { return p.param.name; });

minibit::wire::peer_id id_of(char c) {
    minibit::wire::peer_id id;
    id.bytes.fill(static_cast<std::uint8_t>(c));
    return id;
}

TEST(DuplicateConnection, BothEndsKeepTheOneDialledByTheSmallerId) {
    const auto small = id_of('a');
    const auto large = id_of('b');
    // Seen from the smaller id: keep what we dialled, drop what they dialled.
    EXPECT_TRUE(keep_newer_connection(small, large, dialled_by::us));
    EXPECT_FALSE(keep_newer_connection(small, large, dialled_by::them));
    // Seen from the larger id: the same connection survives (the one the other side dialled).
    EXPECT_TRUE(keep_newer_connection(large, small, dialled_by::them));
    EXPECT_FALSE(keep_newer_connection(large, small, dialled_by::us));
}

// ---- adaptive timers

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(RttEstimator, FirstSampleSetsTheMeanAndHalfOfItAsDeviation) {
    rtt_estimator e;
    EXPECT_FALSE(e.known());
    e.sample(microseconds{20'000});
    EXPECT_TRUE(e.known());
    EXPECT_EQ(e.smoothed(), microseconds{20'000});
    EXPECT_EQ(e.deviation(), microseconds{10'000});
    EXPECT_EQ(e.minimum(), microseconds{20'000});
}

TEST(RttEstimator, ConvergesToASteadyRoundTripAndRemembersTheSmallest) {
    rtt_estimator e;
    e.sample(microseconds{400'000});  // a first block behind a cold pipeline
    e.sample(microseconds{5'000});
    for (int i = 0; i < 100; ++i) e.sample(microseconds{25'000});
    EXPECT_NEAR(static_cast<double>(e.smoothed().count()), 25'000.0, 250.0);
    EXPECT_LT(e.deviation(), microseconds{500});
    EXPECT_EQ(e.minimum(), microseconds{5'000});
}

TEST(RttEstimator, DeviationGrowsWithJitter) {
    rtt_estimator steady;
    rtt_estimator jittery;
    for (int i = 0; i < 50; ++i) {
        steady.sample(microseconds{1'000'000});
        jittery.sample(microseconds{i % 2 == 0 ? 500'000 : 1'500'000});
    }
    EXPECT_LT(steady.deviation(), microseconds{10'000});
    EXPECT_GT(jittery.deviation(), microseconds{300'000});
}

TEST(RequestTimeout, StartsAtTheInitialValueBeforeAnyBlock) {
    const torrent_options opt;
    EXPECT_EQ(request_timeout(rtt_estimator{}, opt), initial_request_timeout);
}

TEST(RequestTimeout, FollowsASlowSteadyPeerAboveTwiceItsRoundTrip) {
    torrent_options opt;  // tick 500 ms, bounds 2-20 s
    rtt_estimator e;
    for (int i = 0; i < 100; ++i) e.sample(microseconds{4'000'000});  // 4 s per block: slow
    const milliseconds t = request_timeout(e, opt);
    EXPECT_GE(t, milliseconds{8'000});  // a slow but steady peer keeps its requests
    EXPECT_LE(t, milliseconds{9'000});
}

TEST(RequestTimeout, DetectsAStallOfAFastPeerWithinTheFloor) {
    const torrent_options opt;
    rtt_estimator e;
    for (int i = 0; i < 100; ++i) e.sample(microseconds{30'000});
    EXPECT_EQ(request_timeout(e, opt), opt.min_request_timeout);
}

TEST(RequestTimeout, WidensWithVarianceAndIsClampedToTheCeiling) {
    const torrent_options opt;
    rtt_estimator jittery;
    for (int i = 0; i < 50; ++i) jittery.sample(microseconds{i % 2 == 0 ? 500'000 : 1'500'000});
    // SRTT ~1 s, RTTVAR ~0.5 s: 1 + 4 x 0.5 + 0.5 tick = ~3.5 s, above 2 x SRTT.
    const milliseconds t = request_timeout(jittery, opt);
    EXPECT_GT(t, milliseconds{3'000});
    EXPECT_LT(t, milliseconds{4'500});
    rtt_estimator stuck;
    stuck.sample(microseconds{60'000'000});
    EXPECT_EQ(request_timeout(stuck, opt), opt.max_request_timeout);
}

TEST(RequestTimeout, AnExplicitValueWins) {
    torrent_options opt;
    opt.request_timeout = milliseconds{7'000};
    rtt_estimator e;
    e.sample(microseconds{10'000});
    EXPECT_EQ(request_timeout(e, opt), milliseconds{7'000});
    EXPECT_EQ(request_timeout(rtt_estimator{}, opt), milliseconds{7'000});
}

TEST(RechokePeriod, IsFortyRoundTripsOfTheMedianPeer) {
    const torrent_options opt;
    const std::vector<microseconds> rtts{microseconds{50'000}, microseconds{100'000},
                                         microseconds{5'000'000}};
    EXPECT_EQ(rechoke_period(rtts, opt), milliseconds{4'000});  // median 100 ms
}

TEST(RechokePeriod, IsClampedToOneAndTenSeconds) {
    const torrent_options opt;
    const std::vector<microseconds> loopback{microseconds{40}, microseconds{60}};
    EXPECT_EQ(rechoke_period(loopback, opt), milliseconds{1'000});
    const std::vector<microseconds> wan20{microseconds{25'000}};
    EXPECT_EQ(rechoke_period(wan20, opt), milliseconds{1'000});
    const std::vector<microseconds> satellite{microseconds{600'000}};
    EXPECT_EQ(rechoke_period(satellite, opt), milliseconds{10'000});
}

TEST(RechokePeriod, IsTheMinimumWhileNoRoundTripIsKnown) {
    const torrent_options opt;
    EXPECT_EQ(rechoke_period({}, opt), opt.min_rechoke_interval);
}

TEST(RechokePeriod, AnExplicitIntervalWins) {
    torrent_options opt;
    opt.rechoke_interval = milliseconds{250};
    const std::vector<microseconds> internet{microseconds{200'000}};
    EXPECT_EQ(rechoke_period(internet, opt), milliseconds{250});
    EXPECT_EQ(rechoke_period({}, opt), milliseconds{250});
}

}  // namespace
