// Two pickers of one torrent (two reactors) sharing a shared_pieces: a piece's blocks go to one
// picker only, a released claim can be taken by the other, a late block of a piece the other
// holds is refused, and the shared availability counts exactly; plus claims raced from threads.
#include "minibit/swarm/shared_pieces.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "minibit/swarm/piece_picker.hpp"

namespace minibit::swarm {
namespace {

constexpr std::uint32_t pieces = 8;
constexpr std::uint32_t piece_bytes = 4 * block_size_bytes;

bitfield all_pieces() {
    return bitfield(pieces, true);
}

TEST(SharedPieces, TwoPickersNeverHandOutBlocksOfTheSamePiece) {
    shared_pieces shared(pieces);
    piece_picker a(pieces, piece_bytes, piece_bytes);
    piece_picker b(pieces, piece_bytes, piece_bytes);
    a.share(&shared, 0);
    b.share(&shared, 1);
    std::mt19937_64 rng(7);
    std::set<std::uint32_t> from_a;
    std::set<std::uint32_t> from_b;
    for (int round = 0; round < 4; ++round) {
        for (const auto& blk : a.request_blocks(peer_slot{1}, all_pieces(), 5, rng)) {
            from_a.insert(blk.piece.get());
        }
        for (const auto& blk : b.request_blocks(peer_slot{1}, all_pieces(), 5, rng)) {
            from_b.insert(blk.piece.get());
        }
    }
    EXPECT_EQ(from_a.size() + from_b.size(), pieces);  // 32 blocks: every piece handed out once
    for (std::uint32_t p : from_a) EXPECT_FALSE(from_b.contains(p)) << "piece " << p;
    for (std::uint32_t p : from_a) EXPECT_FALSE(shared.claimable(piece_index{p}, 1));
}

TEST(SharedPieces, AnAbandonedPieceGoesToTheOtherPickerAndLateBlocksAreRefused) {
    shared_pieces shared(pieces);
    piece_picker a(pieces, piece_bytes, piece_bytes);
    piece_picker b(pieces, piece_bytes, piece_bytes);
    a.share(&shared, 0);
    b.share(&shared, 1);
    std::mt19937_64 rng(1);
    bitfield only_3(pieces);
    only_3.set(piece_index{3});
    const auto got = a.request_blocks(peer_slot{1}, only_3, 2, rng);
    ASSERT_EQ(got.size(), 2U);
    EXPECT_TRUE(b.request_blocks(peer_slot{1}, only_3, 4, rng).empty());  // a holds piece 3
    // b's peer sends a block of piece 3 anyway: not fresh, nothing to write.
    EXPECT_FALSE(b.on_block_received(peer_slot{1}, {piece_index{3}, block_index{0}}).fresh);
    // a's requests are dropped; with nobody asked the claim is idle, then abandoned.
    for (const auto& blk : got) a.on_request_dropped(peer_slot{1}, blk);
    ASSERT_EQ(a.idle_claims(), std::vector<piece_index>{piece_index{3}});
    a.abandon(piece_index{3});
    EXPECT_TRUE(a.idle_claims().empty());
    EXPECT_EQ(b.request_blocks(peer_slot{1}, only_3, 4, rng).size(), 4U);
    EXPECT_FALSE(a.on_block_received(peer_slot{1}, {piece_index{3}, block_index{1}}).fresh);
    // b completes and passes it: verified for good, claimable by nobody.
    block_arrival last;
    for (std::uint32_t i = 0; i < 4; ++i) {
        last = b.on_block_received(peer_slot{1}, {piece_index{3}, block_index{i}});
        EXPECT_TRUE(last.fresh);
    }
    EXPECT_TRUE(last.piece_complete);
    b.on_piece_passed(piece_index{3});
    EXPECT_TRUE(shared.mark_verified(piece_index{3}));
    EXPECT_FALSE(shared.mark_verified(piece_index{3}));
    EXPECT_EQ(shared.verified_count(), 1U);
    EXPECT_FALSE(shared.claimable(piece_index{3}, 0));
    EXPECT_FALSE(shared.claimable(piece_index{3}, 1));
}

TEST(SharedPieces, AvailabilityCountsBitfieldsHavesAndSeedsExactly) {
    shared_pieces shared(pieces);
    bitfield b(pieces);
    b.set(piece_index{2});
    b.set(piece_index{5});
    shared.add_bitfield(b);
    shared.add_have(piece_index{5});
    shared.add_seed();
    EXPECT_EQ(shared.availability(piece_index{2}), 2U);
    EXPECT_EQ(shared.availability(piece_index{5}), 3U);
    EXPECT_EQ(shared.availability(piece_index{0}), 1U);
    shared.remove_bitfield(b);
    shared.remove_seed();
    EXPECT_EQ(shared.availability(piece_index{2}), 0U);
    EXPECT_EQ(shared.availability(piece_index{5}), 1U);       // the HAVE's peer is still there
    EXPECT_EQ(shared.availability(piece_index{pieces}), 0U);  // out of range: 0, no crash
}

TEST(SharedPieces, EachPieceIsClaimedByExactlyOneOfFourRacingThreads) {
    constexpr std::uint32_t many = 10000;
    shared_pieces shared(many);
    std::vector<std::vector<std::uint32_t>> won(4);
    std::vector<std::thread> threads;
    for (std::uint32_t t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::uint32_t p = 0; p < many; ++p) {
                if (shared.try_claim(piece_index{p}, t)) won[t].push_back(p);
                shared.add_have(piece_index{p});
            }
        });
    }
    for (auto& th : threads) th.join();
    std::size_t total = 0;
    for (const auto& w : won) total += w.size();
    EXPECT_EQ(total, many);
    for (std::uint32_t p = 0; p < many; p += 997) {
        EXPECT_EQ(shared.availability(piece_index{p}), 4U);
    }
}

}  // namespace
}  // namespace minibit::swarm
