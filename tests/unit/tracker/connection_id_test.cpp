#include "minibit/tracker/connection_id.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

std::array<std::uint8_t, 16> test_key() {
    std::array<std::uint8_t, 16> k{};
    for (std::uint8_t i = 0; i < 16; ++i) k[i] = i;
    return k;
}

TEST(SipHash, MatchesTheReferenceVectors) {
    // Reference vectors of the SipHash paper: key 00..0f, message 00..(n-1).
    std::vector<std::uint8_t> msg;
    EXPECT_EQ(siphash24(test_key(), msg), 0x726fdb47dd0e0e31ULL);
    for (std::uint8_t i = 0; i < 15; ++i) msg.push_back(i);
    EXPECT_EQ(siphash24(test_key(), msg), 0xa129ca6149be45e5ULL);
}

TEST(ConnectionId, IsAcceptedForTwoBucketsThenRefused) {
    const connection_id_issuer issuer(test_key());
    const std::array<std::uint8_t, 4> ip{127, 0, 0, 1};
    const auto id = issuer.issue(ip, seconds{1000});
    EXPECT_TRUE(issuer.verify(id, ip, seconds{1000}));
    EXPECT_TRUE(issuer.verify(id, ip, seconds{1000 + 119}));  // still bucket 8 or 9
    EXPECT_TRUE(issuer.verify(id, ip, seconds{1199}));        // bucket 9: previous accepted
    EXPECT_FALSE(issuer.verify(id, ip, seconds{1200}));       // bucket 10: too old
}

TEST(ConnectionId, IsBoundToTheClientAddressAndSecret) {
    const connection_id_issuer issuer(test_key());
    const std::array<std::uint8_t, 4> a{127, 0, 0, 1};
    const std::array<std::uint8_t, 4> b{127, 0, 0, 2};
    const auto id = issuer.issue(a, seconds{50});
    EXPECT_FALSE(issuer.verify(id, b, seconds{50}));
    EXPECT_FALSE(issuer.verify(id + 1, a, seconds{50}));
    auto other_key = test_key();
    other_key[0] = 0xff;
    EXPECT_FALSE(connection_id_issuer(other_key).verify(id, a, seconds{50}));
}

}  // namespace
}  // namespace minibit::tracker
