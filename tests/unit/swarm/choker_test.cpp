#include "minibit/swarm/choker.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::swarm {
namespace {

using std::chrono::milliseconds;

enum flags : unsigned { none = 0, interested = 1, snubbed = 2, seed = 4, unchoked = 8 };

choker_peer peer(std::uint32_t id, unsigned f, std::uint64_t down, std::uint64_t up = 0,
                 milliseconds connected_at = milliseconds{0}) {
    choker_peer p;
    p.id = peer_slot{id};
    p.interested = (f & interested) != 0;
    p.snubbed = (f & snubbed) != 0;
    p.is_seed = (f & seed) != 0;
    p.am_choking = (f & unchoked) == 0;
    p.download_rate = down;
    p.upload_rate = up;
    p.connected_at = connected_at;
    return p;
}

std::string ids(const std::vector<peer_slot>& v) {
    std::string s;
    for (auto p : v) {
        s += (s.empty() ? "" : " ") + std::to_string(p.get());
    }
    return s;
}

const milliseconds now{1'000'000};

struct regular_case {
    const char* name;
    std::vector<choker_peer> peers;
    choke_mode mode;
    const char* expected;
};

class ChokerRegularSlots : public testing::TestWithParam<regular_case> {};

TEST_P(ChokerRegularSlots, UnchokesTheExpectedPeers) {
    const auto& c = GetParam();
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    std::mt19937_64 rng(1);
    const auto d = rechoke(c.peers, c.mode, cfg, {}, now, rng);
    EXPECT_EQ(ids(d.unchoke), c.expected);
    EXPECT_TRUE(d.optimistic.empty());
}

constexpr unsigned i = interested;

INSTANTIATE_TEST_SUITE_P(
    Table, ChokerRegularSlots,
    testing::Values(
        regular_case{"LeechTopByDownloadRateAmongInterested",
                     {peer(1, i, 100), peer(2, i, 300), peer(3, none, 900), peer(4, i, 200)},
                     choke_mode::leech,
                     "2 4"},
        regular_case{"SnubbedPeersLoseTheirSlot",
                     {peer(1, i, 100), peer(2, i | snubbed, 300), peer(4, i, 200)},
                     choke_mode::leech,
                     "1 4"},
        regular_case{"SeedsAreNeverUnchoked",
                     {peer(1, i | seed, 900), peer(2, i, 1), peer(3, none, 5)},
                     choke_mode::leech,
                     "2"},
        regular_case{"TiesGoToTheLowerId",
                     {peer(7, i, 50), peer(3, i, 50), peer(5, i, 50)},
                     choke_mode::leech,
                     "3 5"},
        regular_case{"SeedModeRanksByUploadRate",
                     {peer(1, i, 999, 10), peer(2, i, 0, 50), peer(3, i, 0, 30)},
                     choke_mode::seed,
                     "2 3"},
        regular_case{"SeedModeKeepsSnubbedPeers",
                     {peer(1, i | snubbed, 0, 90), peer(2, i, 0, 50), peer(3, i, 0, 30)},
                     choke_mode::seed,
                     "1 2"},
        regular_case{
            "NobodyInterested", {peer(1, none, 100), peer(2, none, 100)}, choke_mode::leech, ""}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(Choker, OptimisticSlotGoesToAPeerOutsideTheTop) {
    const std::vector peers{peer(1, i, 300), peer(2, i, 100), peer(3, i, 50)};
    choker_config cfg;
    cfg.slots = 1;
    std::mt19937_64 rng(4);
    const auto d = rechoke(peers, choke_mode::leech, cfg, {}, now, rng);
    ASSERT_EQ(d.optimistic.size(), 1U);
    EXPECT_NE(d.optimistic[0], peer_slot{1});
    EXPECT_EQ(d.unchoke.size(), 2U);
    EXPECT_EQ(d.unchoke[0], peer_slot{1});
    EXPECT_EQ(d.next.round, 1U);
}

TEST(Choker, OptimisticStaysUntilItsIntervalThenRotates) {
    const std::vector peers{peer(1, i, 300), peer(2, i, 100), peer(3, i, 50)};
    choker_config cfg;
    cfg.slots = 1;
    std::mt19937_64 rng(4);
    const choker_state mid{1, {peer_slot{2}}};
    EXPECT_EQ(ids(rechoke(peers, choke_mode::leech, cfg, mid, now, rng).optimistic), "2");
    const choker_state due{3, {peer_slot{2}}};
    EXPECT_EQ(ids(rechoke(peers, choke_mode::leech, cfg, due, now, rng).optimistic), "3");
}

TEST(Choker, LostOptimisticPeerIsReplacedAtOnce) {
    const std::vector peers{peer(1, i, 300), peer(3, i, 50)};
    choker_config cfg;
    cfg.slots = 1;
    std::mt19937_64 rng(4);
    const choker_state mid{1, {peer_slot{2}}};
    EXPECT_EQ(ids(rechoke(peers, choke_mode::leech, cfg, mid, now, rng).optimistic), "3");
}

TEST(Choker, SnubbedPeerCanOnlyBeUnchokedOptimistically) {
    const std::vector peers{peer(1, i, 300), peer(2, i | snubbed, 900)};
    choker_config cfg;
    cfg.slots = 1;
    std::mt19937_64 rng(4);
    const auto d = rechoke(peers, choke_mode::leech, cfg, {}, now, rng);
    EXPECT_EQ(ids(d.unchoke), "1 2");
    EXPECT_EQ(ids(d.optimistic), "2");
}

TEST(Choker, NewPeersAreThreeTimesAsLikelyToBeOptimistic) {
    const std::vector peers{peer(1, i, 300), peer(2, i, 0, 0, milliseconds{0}),
                            peer(3, i, 0, 0, now - milliseconds{1000})};
    choker_config cfg;
    cfg.slots = 1;
    int new_peer = 0;
    for (std::uint64_t seed = 0; seed < 400; ++seed) {
        std::mt19937_64 rng(seed);
        const auto d = rechoke(peers, choke_mode::leech, cfg, {}, now, rng);
        new_peer += d.optimistic.at(0) == peer_slot{3} ? 1 : 0;
    }
    EXPECT_GT(new_peer, 260);  // expected 300 of 400
    EXPECT_LT(new_peer, 340);
}

TEST(Choker, ReportsWhomToChokeAndUnchoke) {
    const std::vector peers{peer(1, i | unchoked, 10), peer(2, i, 300), peer(3, none | unchoked, 0),
                            peer(4, i | unchoked, 200)};
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    std::mt19937_64 rng(1);
    const auto d = rechoke(peers, choke_mode::leech, cfg, {}, now, rng);
    EXPECT_EQ(ids(d.unchoke), "2 4");
    EXPECT_EQ(ids(d.to_unchoke), "2");
    EXPECT_EQ(ids(d.to_choke), "1 3");
}

}  // namespace
}  // namespace minibit::swarm
