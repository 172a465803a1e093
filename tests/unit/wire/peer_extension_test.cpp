#include "minibit/wire/peer_extension.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace minibit::wire {
namespace {

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(ExtensionHandshake, EncodesCanonicalSortedKeys) {
    extension_handshake h;
    h.m = {{"ut_metadata", 3}, {"ut_pex", 1}};
    h.v = "MiniBit 0.1";
    h.p = 6881;
    h.reqq = 250;
    h.metadata_size = 31235;
    EXPECT_EQ(encode_extension_handshake(h),
              "d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e"
              "4:reqqi250e1:v11:MiniBit 0.1e");
}

TEST(ExtensionHandshake, RoundTrips) {
    extension_handshake h;
    h.m = {{"ut_metadata", 2}, {"lt_donthave", 0}};
    h.reqq = 500;
    const std::string wire = encode_extension_handshake(h);
    auto back = parse_extension_handshake(as_bytes(wire));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, h);
}

TEST(ExtensionHandshake, SkipsUnknownKeysOfEveryType) {
    auto h = parse_extension_handshake(
        as_bytes("d6:yourip4:abcd1:ali1ed1:xi-5eee1:md1:ai7ee1:pi1ee"));
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->p, 1);
    ASSERT_EQ(h->m.size(), 1U);
    EXPECT_EQ(h->m.at("a"), 7);
}

struct bad_case {
    const char* name;
    const char* input;
    std::size_t offset;
};

class ExtensionHandshakeBad : public testing::TestWithParam<bad_case> {};

TEST_P(ExtensionHandshakeBad, IsRejectedAtTheOffset) {
    auto h = parse_extension_handshake(as_bytes(GetParam().input));
    ASSERT_FALSE(h);
    EXPECT_TRUE(is(h.error(), peer_wire_errc::bad_extension_handshake)) << h.error().message();
    EXPECT_EQ(h.error().offset, GetParam().offset) << h.error().message();
}

INSTANTIATE_TEST_SUITE_P(Table, ExtensionHandshakeBad,
                         testing::Values(bad_case{"Empty", "", 0}, bad_case{"List", "le", 0},
                                         bad_case{"Unterminated", "d", 1},
                                         bad_case{"MNotADict", "d1:mi1ee", 4},
                                         bad_case{"ExtensionIdAbove255", "d1:md2:xxi256eee", 9},
                                         bad_case{"PortAbove65535", "d1:pi70000ee", 4},
                                         bad_case{"LeadingZero", "d1:pi01ee", 4},
                                         bad_case{"NegativeZero", "d1:pi-0ee", 4},
                                         bad_case{"StringPastEnd", "d1:v5:abe", 4},
                                         bad_case{"TrailingBytes", "dex", 2},
                                         bad_case{"TooDeep", "d1:xlllllllllleeeeeeeeeee", 12},
                                         bad_case{"IntegerKey", "di1ei2ee", 1}),
                         [](const auto& tp) { return std::string(tp.param.name); });

TEST(ExtensionHandshake, LimitsEntriesInM) {
    extension_limits limits;
    limits.max_m_entries = 1;
    auto h = parse_extension_handshake(as_bytes("d1:md1:ai1e1:bi2eee"), limits);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().offset, 17U);
}

}  // namespace
}  // namespace minibit::wire
