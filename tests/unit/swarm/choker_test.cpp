#include "minibit/swarm/choker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace minibit::swarm {
namespace {

using std::chrono::milliseconds;

enum flags : unsigned { none = 0, interested = 1, snubbed = 2, seed = 4, unchoked = 8 };

choker_peer peer(std::uint32_t id, unsigned f, std::uint64_t down, std::uint64_t up = 0,
                 milliseconds connected_at = milliseconds{0},
                 milliseconds choke_changed_at = milliseconds{0}) {
    choker_peer p;
    p.id = peer_slot{id};
    p.interested = (f & interested) != 0;
    p.snubbed = (f & snubbed) != 0;
    p.is_seed = (f & seed) != 0;
    p.am_choking = (f & unchoked) == 0;
    p.download_rate = down;
    p.upload_rate = up;
    p.connected_at = connected_at;
    p.choke_changed_at = choke_changed_at;
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

// ---- slots freed between rechokes (fill_slots) and a seed's rotation ----------------------

/// A peer whose choke state last changed `ago` before `now`.
choker_peer since(std::uint32_t id, unsigned f, milliseconds ago, std::uint64_t rate = 0) {
    return peer(id, f, rate, rate, milliseconds{0}, now - ago);
}

TEST(ChokerFill, ASlotHeldByAPeerThatLostInterestGoesToAWaitingPeerAtOnce) {
    // Slots 2 + 1 optimistic, all held; peer 3 lost interest, peer 5 waits.
    const std::vector peers{peer(1, i | unchoked, 50), peer(2, i | unchoked, 40),
                            peer(3, none | unchoked, 90), peer(5, i, 0)};
    choker_config cfg;
    cfg.slots = 2;
    const auto f = fill_slots(peers, choke_mode::leech, cfg);
    EXPECT_EQ(ids(f.to_choke), "3");
    EXPECT_EQ(ids(f.to_unchoke), "5");
}

TEST(ChokerFill, ASlotHeldByACompletePeerGoesToAWaitingPeer) {
    const std::vector peers{peer(1, i | unchoked, 0), peer(2, seed | unchoked, 0),
                            peer(3, i | unchoked, 0), peer(4, i, 0), peer(6, i, 0)};
    choker_config cfg;
    cfg.slots = 2;
    const auto f = fill_slots(peers, choke_mode::seed, cfg);
    EXPECT_EQ(ids(f.to_choke), "2");
    EXPECT_EQ(ids(f.to_unchoke), "4");
}

TEST(ChokerFill, EveryFreeSlotIsFilledTheOptimisticOneIncluded) {
    const std::vector peers{peer(1, i, 10), peer(2, i, 30), peer(3, i, 20), peer(4, i, 40)};
    choker_config cfg;
    cfg.slots = 2;
    const auto f = fill_slots(peers, choke_mode::leech, cfg);
    EXPECT_TRUE(f.to_choke.empty());
    EXPECT_EQ(ids(f.to_unchoke), "4 2 3");  // best reciprocators first, 3 slots in all
}

TEST(ChokerFill, NothingChangesWhileEverySlotIsBusy) {
    const std::vector peers{peer(1, i | unchoked, 10), peer(2, i | unchoked, 30),
                            peer(3, i | unchoked, 20), peer(4, i, 999)};
    choker_config cfg;
    cfg.slots = 2;
    const auto f = fill_slots(peers, choke_mode::leech, cfg);
    EXPECT_TRUE(f.to_choke.empty());
    EXPECT_TRUE(f.to_unchoke.empty());
}

TEST(ChokerFill, SeedingTheLongestWaitingPeerGetsTheFreeSlot) {
    const std::vector peers{since(1, i, milliseconds{100}, 900), since(2, i, milliseconds{5000}),
                            since(3, i, milliseconds{2000}), since(4, none | unchoked, now)};
    choker_config cfg;
    cfg.slots = 1;
    cfg.optimistic_slots = 0;
    const auto f = fill_slots(peers, choke_mode::seed, cfg);
    EXPECT_EQ(ids(f.to_choke), "4");
    EXPECT_EQ(ids(f.to_unchoke), "2");
}

TEST(ChokerFill, LeechingASnubbedPeerOnlyGetsASlotNobodyElseWants) {
    const std::vector peers{peer(1, i | snubbed, 900), peer(2, i, 1)};
    choker_config cfg;
    cfg.slots = 1;
    cfg.optimistic_slots = 0;
    EXPECT_EQ(ids(fill_slots(peers, choke_mode::leech, cfg).to_unchoke), "2");
    cfg.slots = 2;
    EXPECT_EQ(ids(fill_slots(peers, choke_mode::leech, cfg).to_unchoke), "2 1");
}

TEST(ChokerSeedRotation, SlotsHeldForAnIntervalGoToWaitingPeers) {
    // Peers 1 and 2 have held their slots for a whole interval; 3 and 4 wait.
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    cfg.rechoke_interval = milliseconds{1000};
    const std::vector peers{since(1, i | unchoked, milliseconds{1000}, 900),
                            since(2, i | unchoked, milliseconds{1000}, 800),
                            since(3, i, milliseconds{3000}), since(4, i, milliseconds{1000})};
    std::mt19937_64 rng(1);
    const auto d = rechoke(peers, choke_mode::seed, cfg, {}, now, rng);
    EXPECT_EQ(ids(d.unchoke), "3 4");
    EXPECT_EQ(ids(d.to_choke), "1 2");
}

TEST(ChokerSeedRotation, APeerUnchokedWithinTheIntervalKeepsItsSlot) {
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    cfg.rechoke_interval = milliseconds{1000};
    const std::vector peers{since(1, i | unchoked, milliseconds{300}, 10),
                            since(2, i | unchoked, milliseconds{1000}, 900),
                            since(3, i, milliseconds{3000})};
    std::mt19937_64 rng(1);
    EXPECT_EQ(ids(rechoke(peers, choke_mode::seed, cfg, {}, now, rng).unchoke), "1 3");
}

TEST(ChokerSeedRotation, EveryInterestedPeerIsServedWithinAFewIntervals) {
    // Five interested leechers, two seed slots: rotating, each is unchoked within three rounds.
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    cfg.rechoke_interval = milliseconds{1000};
    std::vector<choker_peer> peers;
    for (std::uint32_t k = 1; k <= 5; ++k) {
        peers.push_back(since(k, i, milliseconds{0}, 1000 * k));  // faster ones would hog slots
    }
    std::vector<bool> served(6, false);
    choker_state state;
    std::mt19937_64 rng(1);
    for (int round = 0; round < 3; ++round) {
        const milliseconds t = now + milliseconds{1000} * round;
        const auto d = rechoke(peers, choke_mode::seed, cfg, state, t, rng);
        state = d.next;
        for (auto& p : peers) {
            const bool on = std::find(d.unchoke.begin(), d.unchoke.end(), p.id) != d.unchoke.end();
            if (on != !p.am_choking) p.choke_changed_at = t;
            p.am_choking = !on;
            served[p.id.get()] = served[p.id.get()] || on;
        }
    }
    EXPECT_EQ(std::count(served.begin() + 1, served.end(), true), 5);
}

TEST(ChokerSeedRotation, WithoutWaitingPeersTheHoldersKeepTheirSlots) {
    choker_config cfg;
    cfg.slots = 2;
    cfg.optimistic_slots = 0;
    cfg.rechoke_interval = milliseconds{1000};
    const std::vector peers{since(1, i | unchoked, milliseconds{9000}, 5),
                            since(2, i | unchoked, milliseconds{9000}, 9), since(3, none, now)};
    std::mt19937_64 rng(1);
    const auto d = rechoke(peers, choke_mode::seed, cfg, {}, now, rng);
    EXPECT_EQ(ids(d.unchoke), "1 2");
    EXPECT_TRUE(d.to_choke.empty());
}

TEST(ChokerOptimistic, AnOptimisticPeerThatLostInterestIsReplacedAtTheNextRechoke) {
    const std::vector peers{peer(1, i | unchoked, 300), peer(2, none | unchoked, 0), peer(3, i, 0)};
    choker_config cfg;
    cfg.slots = 1;
    std::mt19937_64 rng(4);
    const choker_state mid{1, {peer_slot{2}}};  // not due to rotate
    const auto d = rechoke(peers, choke_mode::leech, cfg, mid, now, rng);
    EXPECT_EQ(ids(d.optimistic), "3");
    EXPECT_EQ(ids(d.to_choke), "2");
}

}  // namespace
}  // namespace minibit::swarm
