#include "minibit/swarm/piece_picker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace minibit::swarm {
namespace {

constexpr std::uint32_t kib16 = block_size_bytes;

/// "1101" -> a bitfield with pieces 0, 1 and 3.
bitfield bits(std::string_view s) {
    bitfield b(s.size());
    for (std::uint32_t i = 0; i < s.size(); ++i) {
        if (s[i] == '1') {
            b.set(piece_index{i});
        }
    }
    return b;
}

/// Adds peers so that piece i has availability digit s[i]; returns their bitfields.
std::vector<bitfield> set_availability(piece_picker& pp, std::string_view s) {
    std::vector<bitfield> peers;
    for (char level = '1'; level <= '9'; ++level) {
        std::string row;
        for (char c : s) {
            row += c >= level ? '1' : '0';
        }
        if (row.find('1') == std::string::npos) {
            break;
        }
        peers.push_back(bits(row));
        pp.add_peer(peers.back());
    }
    return peers;
}

std::string availability(const piece_picker& pp) {
    std::string s;
    for (std::uint32_t i = 0; i < pp.piece_count(); ++i) {
        s += static_cast<char>('0' + pp.availability(piece_index{i}));
    }
    return s;
}

std::string picks(const std::vector<piece_index>& v) {
    std::string s;
    for (auto p : v) {
        s += (s.empty() ? "" : " ") + std::to_string(p.get());
    }
    return s;
}

piece_picker rarest_first(std::uint32_t pieces, std::uint32_t piece_length = kib16) {
    return piece_picker(pieces, piece_length, piece_length, picker_config{0, 2});
}

const peer_slot peer_a{1};
const peer_slot peer_b{2};
const peer_slot peer_c{3};

TEST(PiecePicker, CountsAvailabilityFromBitfieldsHavesSeedsAndDisconnects) {
    piece_picker pp = rarest_first(4);
    pp.add_peer(bits("1100"));
    pp.add_peer(bits("0110"));
    pp.on_have(piece_index{3});
    EXPECT_EQ(availability(pp), "1211");
    pp.add_seed();
    EXPECT_EQ(availability(pp), "2322");
    pp.remove_peer(bits("1100"));
    EXPECT_EQ(availability(pp), "1222");
    pp.remove_seed();
    EXPECT_EQ(availability(pp), "0111");
    pp.check_invariants();
}

TEST(PiecePicker, NotationBuildsTheRequestedAvailability) {
    piece_picker pp = rarest_first(6);
    set_availability(pp, "031240");
    EXPECT_EQ(availability(pp), "031240");
    pp.check_invariants();
}

TEST(PiecePicker, PicksTheRarestPieceThePeerHas) {
    piece_picker pp = rarest_first(4);
    set_availability(pp, "3123");
    std::mt19937_64 rng(1);
    EXPECT_EQ(picks(pp.pick(bits("1111"), 1, rng)), "1");
    const auto order = pp.pick(bits("1111"), 4, rng);
    ASSERT_EQ(order.size(), 4U);
    EXPECT_EQ(picks({order[0], order[1]}), "1 2");
    EXPECT_EQ((std::set{order[2].get(), order[3].get()}), (std::set<std::uint32_t>{0, 3}));
    pp.check_invariants();
}

TEST(PiecePicker, SkipsPiecesThePeerLacksAndPiecesWeHave) {
    piece_picker pp = rarest_first(4);
    set_availability(pp, "1123");
    pp.mark_have(piece_index{1});
    std::mt19937_64 rng(1);
    EXPECT_EQ(picks(pp.pick(bits("0111"), 4, rng)), "2 3");
    EXPECT_EQ(picks(pp.pick(bits("0100"), 4, rng)), "");
    pp.check_invariants();
}

TEST(PiecePicker, RandomTieBreakingVariesButStaysInTheRarestBucket) {
    piece_picker pp = rarest_first(8);
    set_availability(pp, "22221111");
    std::set<std::uint32_t> firsts;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        std::mt19937_64 rng(seed);
        const auto p = pp.pick(bits("11111111"), 1, rng);
        ASSERT_EQ(p.size(), 1U);
        firsts.insert(p[0].get());
    }
    EXPECT_GT(firsts.size(), 1U);
    EXPECT_GE(*firsts.begin(), 4U);
    pp.check_invariants();
}

TEST(PiecePicker, RandomFirstPiecesIgnoreRarityUntilEnoughPieces) {
    piece_picker pp(8, kib16, kib16, picker_config{2, 2});
    set_availability(pp, "19999999");
    std::set<std::uint32_t> firsts;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        std::mt19937_64 rng(seed);
        firsts.insert(pp.pick(bits("11111111"), 1, rng).at(0).get());
    }
    EXPECT_GT(firsts.size(), 2U);
    pp.mark_have(piece_index{5});
    pp.mark_have(piece_index{6});
    std::mt19937_64 rng(7);
    EXPECT_EQ(picks(pp.pick(bits("11111111"), 1, rng)), "0");
    pp.check_invariants();
}

TEST(PiecePicker, PartlyDownloadedPiecesComeBeforeRarerOnes) {
    piece_picker pp = rarest_first(5, 2 * kib16);
    set_availability(pp, "12223");
    std::mt19937_64 rng(3);
    EXPECT_EQ(pp.request_blocks(peer_a, bits("11110"), 1, rng),
              (std::vector<block_address>{{piece_index{0}, block_index{0}}}));
    set_availability(pp, "40010");  // piece 0 is now the most common one
    EXPECT_EQ(availability(pp), "52233");
    EXPECT_EQ(pp.request_blocks(peer_b, bits("11110"), 1, rng),
              (std::vector<block_address>{{piece_index{0}, block_index{1}}}));
    pp.check_invariants();
}

TEST(PiecePicker, AvoidedBlocksAreSkippedEvenInAPartlyDownloadedPieceAndInEndgame) {
    piece_picker pp = rarest_first(2, 4 * kib16);
    set_availability(pp, "11");
    std::mt19937_64 rng(3);
    const auto first = pp.request_blocks(peer_a, bits("11"), 8, rng);
    ASSERT_EQ(first.size(), 8U);
    // Blocks 2 and 3 of piece 0 timed out with peer a and went back to the picker.
    const block_address p0b2{piece_index{0}, block_index{2}};
    const block_address p0b3{piece_index{0}, block_index{3}};
    pp.on_request_dropped(peer_a, p0b2);
    pp.on_request_dropped(peer_a, p0b3);
    const std::vector<block_address> avoid{p0b2, p0b3};
    EXPECT_TRUE(pp.request_blocks(peer_a, bits("11"), 4, rng, nullptr, avoid).empty());
    // Another peer gets them; then, in endgame, peer a is not asked for a duplicate of them.
    EXPECT_EQ(pp.request_blocks(peer_b, bits("11"), 2, rng), avoid);
    ASSERT_TRUE(pp.in_endgame());
    const auto dup = pp.request_blocks(peer_a, bits("11"), 4, rng, nullptr, avoid);
    EXPECT_TRUE(dup.empty());
    // Without the list, the same call would have asked peer a for both again.
    EXPECT_EQ(pp.request_blocks(peer_a, bits("11"), 4, rng), avoid);
    pp.check_invariants();
}

TEST(PiecePicker, PartlyDownloadedPiecesWhoseFreeBlocksAreAllAvoidedDoNotCrowdOutOthers) {
    piece_picker pp = rarest_first(4, 2 * kib16);
    set_availability(pp, "1111");
    std::mt19937_64 rng(5);
    // Peer a let one block of each of two pieces time out; both pieces are partly downloaded.
    const auto first = pp.request_blocks(peer_a, bits("1100"), 4, rng);
    ASSERT_EQ(first.size(), 4U);
    const block_address p0b1{piece_index{0}, block_index{1}};
    const block_address p1b1{piece_index{1}, block_index{1}};
    (void)pp.on_block_received(peer_a, {piece_index{0}, block_index{0}});
    (void)pp.on_block_received(peer_a, {piece_index{1}, block_index{0}});
    pp.on_request_dropped(peer_a, p0b1);
    pp.on_request_dropped(peer_a, p1b1);
    // A snubbed peer asks for 2: both come from the pieces it has not stalled on.
    const std::vector<block_address> avoid{p0b1, p1b1};
    const auto next = pp.request_blocks(peer_a, bits("1110"), 2, rng, nullptr, avoid);
    ASSERT_EQ(next.size(), 2U);
    for (const auto& b : next) {
        EXPECT_EQ(b.piece, piece_index{2});  // piece 3: the peer lacks it
    }
    pp.check_invariants();
}

TEST(PiecePicker, FromASeedPiecesNoPeerHoldsComeBeforePartlyDownloadedOnes) {
    piece_picker pp = rarest_first(4, 2 * kib16);
    set_availability(pp, "1000");
    std::mt19937_64 rng(3);
    // Piece 0 is half requested from the peer that holds it.
    EXPECT_EQ(pp.request_blocks(peer_a, bits("1000"), 1, rng),
              (std::vector<block_address>{{piece_index{0}, block_index{0}}}));
    pp.add_seed();
    // The seed is asked for pieces only it holds; the rest of piece 0 only when none is left.
    const auto from_seed = pp.request_blocks(peer_b, bits("1111"), 6, rng);
    ASSERT_EQ(from_seed.size(), 6U);
    for (const auto& b : from_seed) {
        EXPECT_NE(b.piece, piece_index{0});
    }
    EXPECT_EQ(pp.request_blocks(peer_c, bits("1111"), 1, rng),
              (std::vector<block_address>{{piece_index{0}, block_index{1}}}));
    pp.check_invariants();
}

TEST(PiecePicker, BlocksOfAShortLastPieceHaveTheRightLengths) {
    piece_picker pp(2, 3 * kib16, 40000, picker_config{0, 2});
    EXPECT_EQ(pp.blocks_in(piece_index{0}), 3U);
    EXPECT_EQ(pp.blocks_in(piece_index{1}), 3U);
    EXPECT_EQ(pp.block_length({piece_index{1}, block_index{2}}), 40000U - 2 * kib16);
    EXPECT_EQ(pp.block_length({piece_index{0}, block_index{2}}), kib16);
    pp.check_invariants();
}

TEST(PiecePicker, ReceivingEveryBlockCompletesThePiece) {
    piece_picker pp = rarest_first(2, 2 * kib16);
    std::mt19937_64 rng(1);
    const auto blocks = pp.request_blocks(peer_a, bits("10"), 8, rng);
    ASSERT_EQ(blocks.size(), 2U);
    auto first = pp.on_block_received(peer_a, blocks[0]);
    EXPECT_TRUE(first.fresh);
    EXPECT_FALSE(first.piece_complete);
    EXPECT_FALSE(pp.on_block_received(peer_a, blocks[0]).fresh);
    EXPECT_TRUE(pp.on_block_received(peer_a, blocks[1]).piece_complete);
    pp.on_piece_passed(piece_index{0});
    EXPECT_TRUE(pp.have(piece_index{0}));
    EXPECT_FALSE(pp.complete());
    EXPECT_EQ(pp.request_blocks(peer_a, bits("10"), 8, rng).size(), 0U);
    pp.check_invariants();
}

// After a hash failure with several senders the piece is fetched again by one peer alone, so a
// liar that is fast to ask cannot keep mixing its blocks into every retry.
TEST(PiecePicker, AReservedPieceGoesOnlyToItsPeerUntilItDropsARequest) {
    piece_picker pp = rarest_first(1, 2 * kib16);
    std::mt19937_64 rng(1);
    pp.add_peer(bits("1"));
    pp.add_peer(bits("1"));
    const auto first = pp.request_blocks(peer_a, bits("1"), 8, rng);
    ASSERT_EQ(first.size(), 2U);
    (void)pp.on_block_received(peer_a, first[0]);
    (void)pp.on_block_received(peer_a, first[1]);
    pp.on_piece_failed(piece_index{0});
    pp.reserve(piece_index{0}, peer_b);
    EXPECT_TRUE(pp.request_blocks(peer_a, bits("1"), 8, rng).empty());  // not even in endgame
    const auto solo = pp.request_blocks(peer_b, bits("1"), 1, rng);
    ASSERT_EQ(solo.size(), 1U);
    EXPECT_TRUE(pp.request_blocks(peer_a, bits("1"), 8, rng).empty());
    // The reserved peer rejects a block: the piece is anyone's again.
    pp.on_request_dropped(peer_b, solo[0]);
    EXPECT_FALSE(pp.request_blocks(peer_a, bits("1"), 8, rng).empty());
    pp.check_invariants();
}

TEST(PiecePicker, EndgameAllowsBoundedDuplicatesAndReportsCancels) {
    piece_picker pp = rarest_first(1, 2 * kib16);
    std::mt19937_64 rng(1);
    EXPECT_FALSE(pp.in_endgame());
    EXPECT_EQ(pp.request_blocks(peer_a, bits("1"), 8, rng).size(), 2U);
    EXPECT_TRUE(pp.in_endgame());
    EXPECT_EQ(pp.request_blocks(peer_b, bits("1"), 8, rng).size(), 2U);
    EXPECT_EQ(pp.request_blocks(peer_c, bits("1"), 8, rng).size(), 0U);  // two per block max
    const block_address b0{piece_index{0}, block_index{0}};
    EXPECT_EQ(pp.requesters(b0), (std::vector<peer_slot>{peer_a, peer_b}));
    const auto arrival = pp.on_block_received(peer_b, b0);
    EXPECT_TRUE(arrival.fresh);
    EXPECT_EQ(arrival.cancel, std::vector<peer_slot>{peer_a});
    EXPECT_TRUE(pp.requesters(b0).empty());
    pp.check_invariants();
}

TEST(PiecePicker, FailedPieceIsRequestedAgain) {
    piece_picker pp = rarest_first(1, 2 * kib16);
    std::mt19937_64 rng(1);
    for (const auto& b : pp.request_blocks(peer_a, bits("1"), 8, rng)) {
        (void)pp.on_block_received(peer_a, b);
    }
    pp.on_piece_failed(piece_index{0});
    EXPECT_FALSE(pp.in_endgame());
    EXPECT_EQ(pp.request_blocks(peer_b, bits("1"), 8, rng).size(), 2U);
    pp.check_invariants();
}

TEST(PiecePicker, PeerGoneReturnsItsBlocks) {
    piece_picker pp = rarest_first(2, 2 * kib16);
    std::mt19937_64 rng(1);
    const auto taken = pp.request_blocks(peer_a, bits("11"), 3, rng);
    ASSERT_EQ(taken.size(), 3U);
    auto released = pp.on_peer_gone(peer_a);
    auto expected = taken;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(released, expected);
    EXPECT_EQ(pp.request_blocks(peer_b, bits("11"), 8, rng).size(), 4U);
    pp.check_invariants();
}

TEST(PiecePicker, DroppedRequestFreesTheBlock) {
    piece_picker pp = rarest_first(1, kib16);
    std::mt19937_64 rng(1);
    const auto taken = pp.request_blocks(peer_a, bits("1"), 1, rng);
    ASSERT_EQ(taken.size(), 1U);
    pp.on_request_dropped(peer_a, taken[0]);
    EXPECT_FALSE(pp.in_endgame());
    EXPECT_EQ(pp.request_blocks(peer_b, bits("1"), 1, rng), taken);
    pp.check_invariants();
}

// Peer a leaves with requests in flight, peer c never answers; b must still finish.
TEST(PiecePicker, DownloadDoesNotStickWhenPeersLeaveOrStall) {
    piece_picker pp = rarest_first(8, 2 * kib16);
    const bitfield all = bits("11111111");
    std::mt19937_64 rng(5);
    (void)pp.request_blocks(peer_a, all, 4, rng);
    (void)pp.request_blocks(peer_c, all, 4, rng);
    (void)pp.on_peer_gone(peer_a);
    int rounds = 0;
    for (; rounds < 100 && !pp.complete(); ++rounds) {
        for (const auto& b : pp.request_blocks(peer_b, all, 4, rng)) {
            if (pp.on_block_received(peer_b, b).piece_complete) {
                pp.on_piece_passed(b.piece);
            }
        }
    }
    EXPECT_TRUE(pp.complete());
    EXPECT_LE(rounds, 5);
    pp.check_invariants();
}

// Oracle check (research 4.3): after random churn, pick(1) is a piece of minimum availability.
TEST(PiecePicker, RarestPickMatchesBruteForceAfterChurn) {
    constexpr std::uint32_t n = 32;
    piece_picker pp = rarest_first(n);
    std::mt19937_64 rng(11);
    std::vector<bitfield> peers;
    for (int step = 0; step < 300; ++step) {
        bitfield b(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (rng() % 3 == 0) {
                b.set(piece_index{i});
            }
        }
        if (rng() % 4 == 0 && !peers.empty()) {
            pp.remove_peer(peers.back());
            peers.pop_back();
        } else if (rng() % 2 == 0) {
            pp.on_have(piece_index{static_cast<std::uint32_t>(rng() % n)});
        } else {
            pp.add_peer(b);
            peers.push_back(b);
        }
        const auto got = pp.pick(b, 1, rng);
        std::uint32_t best = UINT32_MAX;
        for (std::uint32_t i = 0; i < n; ++i) {
            if (b.test(piece_index{i})) {
                best = std::min(best, pp.availability(piece_index{i}));
            }
        }
        pp.check_invariants();
        ASSERT_EQ(got.empty(), b.none());
        if (!got.empty()) {
            ASSERT_EQ(pp.availability(got[0]), best) << "step " << step;
        }
    }
    pp.check_invariants();
}

}  // namespace
}  // namespace minibit::swarm
