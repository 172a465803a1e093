#include "minibit/tracker/peer_list.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace minibit::tracker {
namespace {

peer_record<6> rec(std::uint32_t i) {
    peer_record<6> r;
    r.endpoint = {10, static_cast<std::uint8_t>(i >> 16U), static_cast<std::uint8_t>(i >> 8U),
                  static_cast<std::uint8_t>(i), 0x1a, 0xe1};
    r.seen_ticks = static_cast<std::uint16_t>(i);
    return r;
}

TEST(PeerList, FindsEveryInsertedPeerAcrossRehashes) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 5000; ++i) EXPECT_EQ(l.insert(rec(i)), i);
    for (std::uint32_t i = 0; i < 5000; ++i) ASSERT_EQ(l.find(rec(i).endpoint), i);
    EXPECT_EQ(l.find(rec(5000).endpoint), peer_list<6>::npos);
}

TEST(PeerList, SwapRemoveKeepsTheIndexExact) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 1000; ++i) l.insert(rec(i));
    // Remove every third peer through find(), then check all survivors and all removed ones.
    for (std::uint32_t i = 0; i < 1000; i += 3) l.remove_at(l.find(rec(i).endpoint));
    EXPECT_EQ(l.size(), 666U);
    for (std::uint32_t i = 0; i < 1000; ++i) {
        const auto at = l.find(rec(i).endpoint);
        if (i % 3 == 0) {
            EXPECT_EQ(at, peer_list<6>::npos) << i;
        } else {
            ASSERT_NE(at, peer_list<6>::npos) << i;
            EXPECT_EQ(l.at(at).seen_ticks, static_cast<std::uint16_t>(i));
        }
    }
}

TEST(PeerList, ShrinksAfterChurnAndStaysUsable) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 4096; ++i) l.insert(rec(i));
    const std::size_t big = l.memory_bytes();
    for (std::uint32_t i = 0; i < 4090; ++i) l.remove_at(l.find(rec(i).endpoint));
    EXPECT_LT(l.memory_bytes() * 8, big);
    for (std::uint32_t i = 4090; i < 4096; ++i) EXPECT_NE(l.find(rec(i).endpoint), peer_list<6>::npos);
}

TEST(PeerList, IndexCostsAtMostEightBytesPerPeerAtSteadyState) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 100000; ++i) l.insert(rec(i));
    // 10-byte records (vector growth may leave up to 2x capacity) + <= 8 bytes of index per peer.
    EXPECT_LE(l.memory_bytes(), 100000U * (10U * 2U + 8U));
}

TEST(PeerList, SampleNeverReturnsSelfNorRepeats) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 100; ++i) l.insert(rec(i));
    fast_rng rng(7);
    for (int round = 0; round < 200; ++round) {
        std::vector<std::uint8_t> out;
        l.sample(42, 30, rng, out);
        ASSERT_EQ(out.size(), 30U * 6U);
        std::set<std::uint32_t> seen;
        for (std::size_t i = 0; i < out.size(); i += 6) {
            const std::uint32_t id = (std::uint32_t{out[i + 2]} << 8U) | out[i + 3];
            EXPECT_NE(id, 42U);
            EXPECT_TRUE(seen.insert(id).second) << "repeated " << id;
        }
    }
}

TEST(PeerList, SampleReachesEveryPeerRoughlyEvenly) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 200; ++i) l.insert(rec(i));
    fast_rng rng(1);
    std::map<std::uint32_t, int> hits;
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> out;
        l.sample(peer_list<6>::npos, 10, rng, out);
        for (std::size_t i = 0; i < out.size(); i += 6) ++hits[(std::uint32_t{out[i + 2]} << 8U) | out[i + 3]];
    }
    // Expected 100 hits per peer (2000 * 10 / 200); the first peers must not be favoured.
    ASSERT_EQ(hits.size(), 200U);
    for (const auto& [id, n] : hits) {
        EXPECT_GT(n, 50) << id;
        EXPECT_LT(n, 160) << id;
    }
}

TEST(PeerList, SampleOfASmallSwarmReturnsEveryoneElse) {
    peer_list<18> l;
    peer_record<18> a;
    a.endpoint[0] = 1;
    peer_record<18> b;
    b.endpoint[0] = 2;
    l.insert(a);
    l.insert(b);
    fast_rng rng(3);
    std::vector<std::uint8_t> out;
    l.sample(0, 50, rng, out);
    ASSERT_EQ(out.size(), 18U);
    EXPECT_EQ(out[0], 2);
}

}  // namespace
}  // namespace minibit::tracker
