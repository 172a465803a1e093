// smart_ban: senders per block, the digests kept from a failed piece and judged once it passes,
// strikes up to the ban, banned ids and addresses.
#include "minibit/swarm/smart_ban.hpp"

#include <gtest/gtest.h>

#include <map>

namespace minibit::swarm {
namespace {

const peer_slot alice{1};
const peer_slot bob{2};
const piece_index p0{0};
const piece_index p1{1};

/// Block contents as the store holds them: a digest per (piece, block), editable by the test.
struct fake_disk {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> blocks;
    smart_ban::digest_fn digest() {
        return [this](piece_index p, block_index b) -> std::optional<sha1_digest> {
            const auto it = blocks.find({p.get(), b.get()});
            if (it == blocks.end()) return std::nullopt;
            return sha1(std::string_view(it->second));
        };
    }
};

TEST(SmartBan, AFailedPieceNamesItsSendersInBlockOrderWithTheirCounts) {
    smart_ban ban(3);
    fake_disk disk;
    ban.record_sender(p0, block_index{0}, 4, bob);
    ban.record_sender(p0, block_index{1}, 4, alice);
    ban.record_sender(p0, block_index{2}, 4, bob);
    const auto senders = ban.piece_failed(p0, disk.digest());
    EXPECT_EQ(senders, (std::vector<smart_ban::sender_count>{{bob, 2}, {alice, 1}}));
    EXPECT_TRUE(ban.piece_failed(p0, disk.digest()).empty());  // taken out
    ban.check_invariants();
}

TEST(SmartBan, OnlyTheSenderOfABlockThatDiffersFromTheGoodDataIsGuilty) {
    smart_ban ban(3);
    fake_disk disk;
    disk.blocks = {{{1, 0}, "honest"}, {{1, 1}, "forged"}};
    ban.record_sender(p1, block_index{0}, 2, alice);
    ban.record_sender(p1, block_index{1}, 2, bob);
    ASSERT_EQ(ban.piece_failed(p1, disk.digest()).size(), 2U);
    // Re-downloaded from an honest peer: block 1 now holds the good data.
    disk.blocks[{1, 1}] = "genuine";
    EXPECT_EQ(ban.piece_passed(p1, disk.digest()), (std::vector<peer_slot>{bob}));
    EXPECT_TRUE(ban.piece_passed(p1, disk.digest()).empty());  // judged once
    ban.check_invariants();
}

TEST(SmartBan, AGuiltySenderOfSeveralBadBlocksIsNamedOnce) {
    smart_ban ban(3);
    fake_disk disk;
    disk.blocks = {{{0, 0}, "bad"}, {{0, 1}, "bad too"}};
    ban.record_sender(p0, block_index{0}, 2, bob);
    ban.record_sender(p0, block_index{1}, 2, bob);
    (void)ban.piece_failed(p0, disk.digest());
    disk.blocks = {{{0, 0}, "good"}, {{0, 1}, "good too"}};
    EXPECT_EQ(ban.piece_passed(p0, disk.digest()), (std::vector<peer_slot>{bob}));
}

TEST(SmartBan, APieceGivenUpForgetsItsSenders) {
    smart_ban ban(3);
    fake_disk disk;
    ban.record_sender(p0, block_index{0}, 1, alice);
    ban.forget_senders(p0);
    EXPECT_TRUE(ban.piece_failed(p0, disk.digest()).empty());
}

TEST(SmartBan, StrikesReachTheBanThreshold) {
    smart_ban ban(3);
    EXPECT_EQ(ban.strikes(alice), 0U);
    EXPECT_FALSE(ban.charge(alice));
    EXPECT_FALSE(ban.charge(alice));
    EXPECT_FALSE(ban.charge(bob));
    EXPECT_TRUE(ban.charge(alice));
    EXPECT_EQ(ban.strikes(alice), 3U);
    EXPECT_EQ(ban.strikes(bob), 1U);
    ban.check_invariants();
}

TEST(SmartBan, BansAddressesAndIdsAndSaysWhenNothingWasNew) {
    smart_ban ban(1);
    wire::peer_id id;
    id.bytes.fill('x');
    EXPECT_TRUE(ban.ban("127.0.0.1:6881", id));
    EXPECT_TRUE(ban.banned(id));
    EXPECT_TRUE(ban.banned("127.0.0.1:6881"));
    EXPECT_FALSE(ban.banned("127.0.0.1:6882"));
    EXPECT_FALSE(ban.ban("127.0.0.1:6881", id));
    EXPECT_TRUE(ban.ban("127.0.0.1:6881", std::nullopt) == false);
    wire::peer_id other;
    other.bytes.fill('y');
    EXPECT_TRUE(ban.ban("127.0.0.1:6881", other));  // a new id at a banned address
}

}  // namespace
}  // namespace minibit::swarm
