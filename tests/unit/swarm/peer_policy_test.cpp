#include "minibit/swarm/peer_policy.hpp"

#include <gtest/gtest.h>

namespace {

using namespace minibit::swarm;

struct pipeline_case {
    const char* name;
    pipeline_input in;
    std::uint32_t expected;
};

class PipelineTarget : public testing::TestWithParam<pipeline_case> {};

TEST_P(PipelineTarget, SizesTheRequestQueue) {
    const torrent_options opt;  // initial 24, min 16, max 256, 2 s of data in flight
    EXPECT_EQ(pipeline_target(GetParam().in, opt), GetParam().expected);
}

constexpr double kib = 1024.0;

INSTANTIATE_TEST_SUITE_P(
    Table, PipelineTarget,
    testing::Values(
        pipeline_case{"UnknownRateStartsAtInitial", {0.0, false, false, 250}, 24},
        pipeline_case{"SlowPeerGetsTheFloor", {10 * kib, true, false, 250}, 16},
        pipeline_case{"RateTimesTwoSecondsInBlocks", {1600 * kib, true, false, 250}, 200},
        pipeline_case{"FastPeerHitsTheCeiling", {100 * 1024 * kib, true, false, 500}, 256},
        pipeline_case{"PeersReqqCaps", {1600 * kib, true, false, 50}, 50},
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

}  // namespace
