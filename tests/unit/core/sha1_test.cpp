#include "minibit/core/sha1.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit {
namespace {

TEST(Sha1, MatchesFips180Vectors) {
    EXPECT_EQ(sha1("abc").hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(sha1("").hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex(),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(Sha1, IncrementalHashEqualsOneShot) {
    std::string data(100000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
    sha1_hasher h;
    for (std::size_t pos = 0; pos < data.size(); pos += 777) {
        const std::string_view part = std::string_view(data).substr(pos, 777);
        h.update(std::span(reinterpret_cast<const std::uint8_t*>(part.data()), part.size()));
    }
    EXPECT_EQ(h.finish(), sha1(data));
}

TEST(Sha1, HasherIsReusableAfterFinish) {
    sha1_hasher h;
    const std::string a = "first";
    h.update(std::span(reinterpret_cast<const std::uint8_t*>(a.data()), a.size()));
    (void)h.finish();
    const std::string b = "abc";
    h.update(std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
    EXPECT_EQ(h.finish().hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Sha1Digest, HexRoundTripsInEitherCase) {
    const auto d = sha1("abc");
    EXPECT_EQ(sha1_digest::from_hex(d.hex()), d);
    EXPECT_EQ(sha1_digest::from_hex("A9993E364706816ABA3E25717850C26C9CD0D89D"), d);
}

TEST(Sha1Digest, RejectsMalformedHex) {
    EXPECT_FALSE(sha1_digest::from_hex("a9993e"));
    EXPECT_FALSE(sha1_digest::from_hex("g9993e364706816aba3e25717850c26c9cd0d89d"));
    EXPECT_FALSE(sha1_digest::from_hex("a9993e364706816aba3e25717850c26c9cd0d89d00"));
}

TEST(Sha1Digest, FromBytesNeedsExactlyTwentyBytes) {
    std::vector<std::uint8_t> raw(20, 0xab);
    ASSERT_TRUE(sha1_digest::from_bytes(raw));
    raw.push_back(0);
    EXPECT_FALSE(sha1_digest::from_bytes(raw));
    raw.resize(19);
    EXPECT_FALSE(sha1_digest::from_bytes(raw));
}

}  // namespace
}  // namespace minibit
