#include "minibit/core/bitfield.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace minibit {
namespace {

TEST(Bitfield, PieceZeroIsTheHighBitOfTheFirstByte) {
    bitfield b(10);
    b.set(piece_index{0});
    b.set(piece_index{9});
    ASSERT_EQ(b.bytes().size(), 2U);
    EXPECT_EQ(b.bytes()[0], 0x80);
    EXPECT_EQ(b.bytes()[1], 0x40);
    EXPECT_EQ(b.count(), 2U);
}

TEST(Bitfield, SetAllLeavesSpareBitsClear) {
    bitfield b(10, true);
    EXPECT_TRUE(b.all());
    EXPECT_EQ(b.bytes()[0], 0xff);
    EXPECT_EQ(b.bytes()[1], 0xc0);
    b.reset_all();
    EXPECT_TRUE(b.none());
}

TEST(Bitfield, SetAndResetReportChangesAndKeepTheCount) {
    bitfield b(16);
    EXPECT_TRUE(b.set(piece_index{3}));
    EXPECT_FALSE(b.set(piece_index{3}));
    EXPECT_EQ(b.count(), 1U);
    EXPECT_TRUE(b.test(piece_index{3}));
    EXPECT_TRUE(b.reset(piece_index{3}));
    EXPECT_FALSE(b.reset(piece_index{3}));
    EXPECT_EQ(b.count(), 0U);
}

TEST(Bitfield, FromWireAcceptsExactLengthAndCounts) {
    const std::vector<std::uint8_t> wire{0xf0, 0x80};
    auto b = bitfield::from_wire(wire, 9);
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(b->count(), 5U);
    EXPECT_TRUE(b->test(piece_index{8}));
    EXPECT_FALSE(b->test(piece_index{4}));
}

TEST(Bitfield, FromWireRejectsWrongLength) {
    const std::vector<std::uint8_t> wire{0xff, 0xff, 0x00};
    auto b = bitfield::from_wire(wire, 9);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), bitfield_errc::wrong_length));
}

TEST(Bitfield, FromWireRejectsSpareBitsSet) {
    const std::vector<std::uint8_t> wire{0xff, 0xc0};
    auto b = bitfield::from_wire(wire, 9);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), bitfield_errc::spare_bits_set));
    EXPECT_EQ(b.error().offset, 1U);
}

TEST(Bitfield, OutOfRangeIndexThrows) {
    bitfield b(8);
    EXPECT_THROW(b.set(piece_index{8}), std::out_of_range);
    EXPECT_THROW((void)b.test(piece_index{100}), std::out_of_range);
}

}  // namespace
}  // namespace minibit
