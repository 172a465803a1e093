#include "minibit/swarm/origin_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace minibit::swarm {
namespace {

using std::chrono::milliseconds;

const milliseconds t0{10'000};

/// The peers' pieces as the origin sees them, and the copy count per piece they add up to.
struct swarm_view {
    explicit swarm_view(std::uint32_t pieces, std::uint32_t peers) : has(peers, bitfield(pieces)) {}
    origin_plan::copies_fn copies() const {
        return [this](piece_index p) {
            return static_cast<std::uint32_t>(std::count_if(
                has.begin(), has.end(), [p](const bitfield& b) { return b.test(p); }));
        };
    }
    std::vector<bitfield> has;
};

origin_config config(std::uint32_t offers, std::uint32_t copies = 2) {
    origin_config c;
    c.offers_per_peer = offers;
    c.copies = copies;
    c.starve_after = milliseconds{3000};
    return c;
}

TEST(OriginPlan, EveryPieceIsOfferedOnceBeforeAnyIsOfferedTwice) {
    constexpr std::uint32_t pieces = 12;
    origin_plan plan(pieces, config(1));
    swarm_view view(pieces, 4);
    std::mt19937_64 rng(3);
    for (std::uint32_t k = 0; k < 4; ++k) plan.add_peer_once(peer_slot{k}, t0);
    // Peers take each offered piece at once; 12 offers in all over the four peers.
    for (int round = 0; round < 3; ++round) {
        for (std::uint32_t k = 0; k < 4; ++k) {
            for (piece_index p : plan.offers(peer_slot{k}, view.has[k], view.copies(), t0, rng)) {
                view.has[k].set(p);
            }
        }
    }
    for (piece_index p{0}; p.get() < pieces; ++p) {
        EXPECT_EQ(plan.times_offered(p), 1U) << "piece " << p.get();
    }
}

TEST(OriginPlan, OffersNoMoreThanTheLimitUntilThePeerTakesOne) {
    origin_plan plan(10, config(2));
    swarm_view view(10, 1);
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{0}, t0);
    const auto first = plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng);
    ASSERT_EQ(first.size(), 2U);
    EXPECT_TRUE(plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng).empty());
    view.has[0].set(first[0]);
    EXPECT_EQ(plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng).size(), 1U);
}

TEST(OriginPlan, APieceHeldKTimesIsNoLongerOffered) {
    // Pieces 0 and 1: two peers hold them already; the third peer is offered only piece 2.
    origin_plan plan(3, config(3, 2));
    swarm_view view(3, 3);
    for (std::uint32_t k = 0; k < 2; ++k) {
        view.has[k].set(piece_index{0});
        view.has[k].set(piece_index{1});
    }
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{2}, t0);
    const auto got = plan.offers(peer_slot{2}, view.has[2], view.copies(), t0, rng);
    EXPECT_EQ(got, std::vector<piece_index>{piece_index{2}});
}

TEST(OriginPlan, APeerWithoutProgressGetsPiecesHeldKTimes) {
    origin_plan plan(2, config(2, 2));
    swarm_view view(2, 3);
    for (std::uint32_t k = 0; k < 2; ++k) {
        view.has[k].set(piece_index{0});
        view.has[k].set(piece_index{1});
    }
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{2}, t0);
    EXPECT_TRUE(plan.offers(peer_slot{2}, view.has[2], view.copies(), t0, rng).empty());
    const auto later = t0 + milliseconds{3000};
    EXPECT_EQ(plan.offers(peer_slot{2}, view.has[2], view.copies(), later, rng).size(), 2U);
}

TEST(OriginPlan, ProgressResetsTheStarvationClock) {
    origin_plan plan(2, config(2, 1));
    swarm_view view(2, 2);
    view.has[0].set(piece_index{0});
    view.has[0].set(piece_index{1});
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{1}, t0);
    plan.on_progress(peer_slot{1}, t0 + milliseconds{2000});
    EXPECT_TRUE(plan.offers(peer_slot{1}, view.has[1], view.copies(), t0 + milliseconds{4000}, rng)
                    .empty());
}

TEST(OriginPlan, OffersToAPeerThatLeftWithoutThemAreTakenBack) {
    origin_plan plan(4, config(2));
    swarm_view view(4, 2);
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{0}, t0);
    const auto lost = plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng);
    ASSERT_EQ(lost.size(), 2U);
    plan.remove_peer(peer_slot{0}, view.has[0]);
    for (piece_index p : lost) EXPECT_EQ(plan.times_offered(p), 0U);
    // The next peer gets the same pieces first: nobody holds them.
    plan.add_peer_once(peer_slot{1}, t0);
    auto again = plan.offers(peer_slot{1}, view.has[1], view.copies(), t0, rng);
    std::sort(again.begin(), again.end());
    auto want = lost;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(again, want);
}

TEST(OriginPlan, APieceSentOnceIsSentAgainOnlyIfItDidNotSpread) {
    origin_plan plan(1, config(1, 2));
    swarm_view view(1, 2);
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{0}, t0);
    plan.add_peer_once(peer_slot{1}, t0);
    ASSERT_EQ(plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng).size(), 1U);
    // Still on its way to peer 0: not offered to peer 1 too.
    EXPECT_TRUE(plan.offers(peer_slot{1}, view.has[1], view.copies(), t0, rng).empty());
    view.has[0].set(piece_index{0});
    const auto held_at = t0 + milliseconds{100};
    EXPECT_TRUE(plan.offers(peer_slot{1}, view.has[1], view.copies(), held_at, rng).empty());
    // Peer 0 had a second to pass it on and did not: the origin sends a second copy.
    EXPECT_EQ(
        plan.offers(peer_slot{1}, view.has[1], view.copies(), held_at + milliseconds{1000}, rng)
            .size(),
        1U);
}

TEST(OriginPlan, APieceSentInFullCountsAsTakenWithoutAHave) {
    // Clients skip the HAVE to the peer that showed them the piece: the origin counts blocks.
    origin_plan plan(4, config(1));
    swarm_view view(4, 1);
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{0}, t0);
    const auto first = plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng);
    ASSERT_EQ(first.size(), 1U);
    EXPECT_FALSE(plan.on_block_served(peer_slot{0}, first[0], 2));
    EXPECT_TRUE(plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng).empty());
    EXPECT_TRUE(plan.on_block_served(peer_slot{0}, first[0], 2));
    const auto next = plan.offers(peer_slot{0}, view.has[0], view.copies(), t0, rng);
    ASSERT_EQ(next.size(), 1U);
    EXPECT_NE(next[0], first[0]);
}

TEST(OriginPlan, ACompletePeerIsOfferedNothing) {
    origin_plan plan(3, config(2));
    bitfield all(3, true);
    std::mt19937_64 rng(1);
    plan.add_peer_once(peer_slot{0}, t0);
    EXPECT_TRUE(
        plan.offers(
                peer_slot{0}, all, [](piece_index) { return 0U; }, t0 + milliseconds{60'000}, rng)
            .empty());
}

}  // namespace
}  // namespace minibit::swarm
