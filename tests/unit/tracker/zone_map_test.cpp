#include "minibit/tracker/zone_map.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <array>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {
namespace {

std::vector<std::uint8_t> ip(const std::string& text) {
    std::array<std::uint8_t, 16> b{};
    const bool v6 = text.find(':') != std::string::npos;
    EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), b.data()), 1) << text;
    return {b.begin(), b.begin() + (v6 ? 16 : 4)};
}

std::string zone_name(const zone_map& m, const std::string& addr) {
    return m.name_of(m.zone_of(ip(addr)));
}

zone_map parsed(std::string_view text) {
    auto m = zone_map::parse(text);
    EXPECT_TRUE(m) << (m ? "" : m.error().message());
    return m ? std::move(*m) : zone_map{};
}

TEST(ZoneMap, TheLongestPrefixWins) {
    const zone_map m = parsed(
        "10.0.0.0/8 region\n"
        "10.1.0.0/16 room\n"
        "10.1.2.0/24 rack\n"
        "10.1.2.128/25 half\n"
        "10.1.2.200/32 host\n");
    EXPECT_EQ(zone_name(m, "10.9.9.9"), "region");
    EXPECT_EQ(zone_name(m, "10.1.9.9"), "room");
    EXPECT_EQ(zone_name(m, "10.1.2.0"), "rack");
    EXPECT_EQ(zone_name(m, "10.1.2.127"), "rack");
    EXPECT_EQ(zone_name(m, "10.1.2.128"), "half");
    EXPECT_EQ(zone_name(m, "10.1.2.199"), "half");
    EXPECT_EQ(zone_name(m, "10.1.2.200"), "host");
    EXPECT_EQ(zone_name(m, "10.1.2.201"), "half");
    EXPECT_EQ(zone_name(m, "10.1.3.0"), "room");
    EXPECT_EQ(zone_name(m, "10.255.255.255"), "region");
    EXPECT_EQ(m.prefix_count(), 5U);
    EXPECT_EQ(m.zone_count(), 5U);
}

TEST(ZoneMap, AddressesNoLineCoversShareTheirSlash24OrSlash64) {
    const zone_map m = parsed("10.0.0.0/8 dc\n2001:db8::/32 dc\n");
    EXPECT_EQ(zone_name(m, "192.168.7.9"), "192.168.7.0/24");
    EXPECT_EQ(m.zone_of(ip("192.168.7.9")), m.zone_of(ip("192.168.7.200")));
    EXPECT_NE(m.zone_of(ip("192.168.7.9")), m.zone_of(ip("192.168.8.9")));
    EXPECT_EQ(zone_name(m, "2001:db9:1:2:3::1"), "2001:db9:1:2::/64");
    EXPECT_EQ(m.zone_of(ip("2001:db9:1:2::1")), m.zone_of(ip("2001:db9:1:2:ffff::9")));
    EXPECT_NE(m.zone_of(ip("2001:db9:1:2::1")), m.zone_of(ip("2001:db9:1:3::1")));
}

TEST(ZoneMap, WithoutAFileEverySlash24AndSlash64IsAZone) {
    const zone_map m;
    EXPECT_EQ(m.zone_of(ip("198.19.1.10")), m.zone_of(ip("198.19.1.11")));
    EXPECT_NE(m.zone_of(ip("198.19.1.10")), m.zone_of(ip("198.19.2.10")));
    EXPECT_EQ(m.zone_of(ip("fd00:1:2:3::a")), m.zone_of(ip("fd00:1:2:3::b")));
    EXPECT_NE(m.zone_of(ip("fd00:1:2:3::a")), m.zone_of(ip("fd00:1:2:4::a")));
    EXPECT_EQ(zone_name(m, "198.19.1.10"), "198.19.1.0/24");
}

TEST(ZoneMap, OneNameOverIpv4AndIpv6IsOneZone) {
    const zone_map m = parsed(
        "# rack a, both families\n"
        "\n"
        "  198.18.0.0/24   rack-a   # dual stack\r\n"
        "fd00:a::/48 rack-a\n"
        "198.18.1.0/24 rack-b\n");
    EXPECT_EQ(m.zone_of(ip("198.18.0.7")), m.zone_of(ip("fd00:a:0:5::7")));
    EXPECT_NE(m.zone_of(ip("198.18.0.7")), m.zone_of(ip("198.18.1.7")));
    EXPECT_EQ(m.zone_count(), 2U);
    EXPECT_EQ(m.prefix_count(), 3U);
}

TEST(ZoneMap, WholeAddressSpacePrefixesCoverTheEdges) {
    const zone_map m = parsed("0.0.0.0/0 all4\n::/0 all6\n255.255.255.255/32 top\n");
    EXPECT_EQ(zone_name(m, "0.0.0.0"), "all4");
    EXPECT_EQ(zone_name(m, "255.255.255.254"), "all4");
    EXPECT_EQ(zone_name(m, "255.255.255.255"), "top");
    EXPECT_EQ(zone_name(m, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "all6");
    EXPECT_EQ(zone_name(m, "::"), "all6");
}

struct bad_case {
    std::string line;
    std::string why;
};

TEST(ZoneMap, ABadLineIsRefusedWithItsLineNumber) {
    const std::vector<bad_case> cases = {
        {"10.0.0.0 rack", "no /LENGTH"},
        {"10.0.0.0/33 rack", "0..32"},
        {"fd00::/129 rack", "0..128"},
        {"10.0.0.0/-1 rack", "0..32"},
        {"10.0.0.0/ rack", "0..32"},
        {"10.0.0.1/24 rack", "bits set past the length"},
        {"300.0.0.0/8 rack", "not an IP address"},
        {"10.0.0.0/8", "expected 'PREFIX/LENGTH ZONE'"},
        {"10.0.0.0/8 two words", "zone name"},
        {"10.0.0.0/8 r\xc3\xa4\x63k", "zone name"},
        {"10.0.0.0/8 " + std::string(65, 'x'), "zone name"},
    };
    for (const auto& c : cases) {
        const std::string text = "# header\n192.168.0.0/16 ok\n" + c.line + "\n";
        const auto m = zone_map::parse(text);
        ASSERT_FALSE(m) << c.line;
        EXPECT_TRUE(is(m.error(), tracker_errc::bad_zones)) << c.line;
        EXPECT_NE(m.error().reason.find("line 3: "), std::string::npos) << m.error().reason;
        EXPECT_NE(m.error().reason.find(c.why), std::string::npos) << m.error().reason;
    }
}

TEST(ZoneMap, ARepeatedPrefixNamesBothLines) {
    const auto m = zone_map::parse("10.0.0.0/8 a\n10.1.0.0/16 b\n10.0.0.0/8 c\n");
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().reason.find("line 3: the prefix of line 1 again"), std::string::npos)
        << m.error().reason;
}

TEST(ZoneMap, LoadNamesTheFileInItsErrors) {
    const auto missing = zone_map::load("/nonexistent/zones.txt");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().reason.find("/nonexistent/zones.txt"), std::string::npos);
    const std::string path = ::testing::TempDir() + "zone_map_test_zones.txt";
    {
        std::ofstream f(path);
        f << "10.0.0.0/8 a\nbogus\n";
    }
    const auto bad = zone_map::load(path);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().reason.find(path + ": line 2: "), std::string::npos)
        << bad.error().reason;
    std::remove(path.c_str());
}

// The flattened ranges against a brute-force longest match over random nested prefixes.
TEST(ZoneMap, LookupsMatchABruteForceLongestPrefixMatch) {
    std::mt19937 rng(13);
    struct line {
        std::uint32_t net;
        unsigned len;
        std::string name;
    };
    std::vector<line> lines;
    std::string text;
    auto mask = [](unsigned len) { return len == 0 ? 0U : ~0U << (32 - len); };
    for (int i = 0; i < 400; ++i) {
        const unsigned len = 8 + rng() % 25;
        // Few distinct high bits, so that prefixes nest often.
        const std::uint32_t net = (0x0a000000U | (rng() & 0x000f0f3fU)) & mask(len);
        bool dup = false;
        for (const auto& l : lines) dup = dup || (l.net == net && l.len == len);
        if (dup) continue;
        lines.push_back({net, len, "z" + std::to_string(i % 23)});
        text += std::to_string(net >> 24U) + "." + std::to_string((net >> 16U) & 255U) + "." +
                std::to_string((net >> 8U) & 255U) + "." + std::to_string(net & 255U) + "/" +
                std::to_string(len) + " " + lines.back().name + "\n";
    }
    const zone_map m = parsed(text);
    ASSERT_EQ(m.prefix_count(), lines.size());
    for (int i = 0; i < 20000; ++i) {
        const std::uint32_t a = 0x0a000000U | (rng() & 0x001f1fffU);
        const line* best = nullptr;
        for (const auto& l : lines) {
            if ((a & mask(l.len)) == l.net && (best == nullptr || l.len > best->len)) best = &l;
        }
        const std::vector<std::uint8_t> b{
            static_cast<std::uint8_t>(a >> 24U), static_cast<std::uint8_t>(a >> 16U),
            static_cast<std::uint8_t>(a >> 8U), static_cast<std::uint8_t>(a)};
        const std::string want = best != nullptr ? best->name
                                                 : std::to_string(a >> 24U) + "." +
                                                       std::to_string((a >> 16U) & 255U) + "." +
                                                       std::to_string((a >> 8U) & 255U) + ".0/24";
        ASSERT_EQ(m.name_of(m.zone_of(b)), want) << std::hex << a;
    }
}

}  // namespace
}  // namespace minibit::tracker
