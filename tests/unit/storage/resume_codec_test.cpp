// The resume file codec (private to storage/): round trip, and every malformed input rejected
// with the exact error offset. Hostile bytes must never be trusted.
#include "resume_file.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <optional>

#include "minibit/storage/piece_store.hpp"

namespace minibit::storage {
namespace {

constexpr std::size_t file_count = 2;
constexpr std::uint32_t piece_count = 10;

resume_data sample() {
    resume_data d{sha1(std::string_view("torrent")),
                  {{6000, 123456789}, {9000, -5}},
                  bitfield(piece_count),
                  std::vector<std::uint64_t>(piece_count, 0)};
    d.have.set(piece_index{0});
    d.have.set(piece_index{9});
    d.xxh3[0] = 0x0123456789ABCDEFULL;
    d.xxh3[9] = 42;
    return d;
}

std::vector<std::uint8_t> encoded() {
    const std::string s = encode_resume(sample());
    return {s.begin(), s.end()};
}

/// Recomputes the trailing checksum so that deeper checks are reached.
void reseal(std::vector<std::uint8_t>& b) {
    const std::size_t body = b.size() - 8;
    std::uint64_t sum = XXH3_64bits(b.data(), body);
    for (std::size_t i = 0; i < 8; ++i, sum >>= 8U) {
        b[body + i] = static_cast<std::uint8_t>(sum & 0xFFU);
    }
}

TEST(ResumeCodec, RoundTripsEveryField) {
    const std::vector<std::uint8_t> bytes = encoded();
    // 8 magic + 20 hash + 8 counts + 2 * 16 files + 2 bitfield + 10 * 8 digests + 8 checksum
    ASSERT_EQ(bytes.size(), 158U);
    auto d = decode_resume(bytes, sample().hash, file_count, piece_count);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->files, sample().files);
    EXPECT_EQ(d->have, sample().have);
    EXPECT_EQ(d->xxh3, sample().xxh3);
}

struct bad_case {
    const char* name;
    std::size_t at;                     ///< byte to change
    std::uint8_t flip;                  ///< XOR mask applied to that byte
    bool reseal;                        ///< recompute the checksum after the change
    std::optional<std::size_t> offset;  ///< expected error offset
};

class ResumeCodecBad : public ::testing::TestWithParam<bad_case> {};

TEST_P(ResumeCodecBad, RejectsWithExactOffset) {
    const bad_case c = GetParam();
    std::vector<std::uint8_t> bytes = encoded();
    bytes[c.at] ^= c.flip;
    if (c.reseal) {
        reseal(bytes);
    }
    auto d = decode_resume(bytes, sample().hash, file_count, piece_count);
    ASSERT_FALSE(d);
    EXPECT_TRUE(is(d.error(), storage_errc::bad_resume)) << d.error().message();
    EXPECT_EQ(d.error().offset, c.offset) << d.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResumeCodecBad,
    ::testing::Values(bad_case{"FlippedDigestByte", 100, 0xFF, false, 150},
                      bad_case{"BadMagic", 0, 0x20, true, 0},
                      bad_case{"OtherTorrent", 8, 0x01, true, 8},
                      bad_case{"FileCountDiffers", 28, 0x01, true, 28},   // 2 -> 3
                      bad_case{"PieceCountDiffers", 32, 0x01, true, 32},  // 10 -> 11
                      bad_case{"SpareBitfieldBitsSet", 69, 0x01, true, 68}),
    [](const ::testing::TestParamInfo<bad_case>& param_info) {
        return std::string(param_info.param.name);
    });

TEST(ResumeCodec, RejectsWrongSizesWithoutReadingPastTheEnd) {
    const std::vector<std::uint8_t> bytes = encoded();
    for (const std::size_t n : {std::size_t{0}, std::size_t{7}, std::size_t{157}}) {
        auto d = decode_resume(std::span(bytes).first(n), sample().hash, file_count, piece_count);
        ASSERT_FALSE(d);
        EXPECT_TRUE(is(d.error(), storage_errc::bad_resume));
        EXPECT_EQ(d.error().offset, std::nullopt);
    }
    std::vector<std::uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(decode_resume(longer, sample().hash, file_count, piece_count));
}

}  // namespace
}  // namespace minibit::storage
