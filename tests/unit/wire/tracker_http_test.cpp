#include "minibit/wire/tracker_http.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::wire {
namespace {

// 20 bytes whose escaped form mixes raw and %-escaped bytes: "%124Vx%9A%BC%DE%F0..."
const std::string hash_q = "%12%34%56%78%9a%bc%de%f0%01%23%45%67%89%ab%cd%ef%00%ff%10%20";
const std::string peer_q = "-MB0001-abcdefghijkl";
const std::string base = "info_hash=" + hash_q + "&peer_id=" + peer_q + "&port=6881";

info_hash expected_hash() {
    return info_hash{{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23,
                      0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0xff, 0x10, 0x20}};
}

struct bad_query_case {
    std::string name;
    std::string query;
    tracker_http_errc code;
    std::size_t offset;
};

class AnnounceQueryRejects : public testing::TestWithParam<bad_query_case> {};

TEST_P(AnnounceQueryRejects, WithExactCodeAndOffset) {
    const auto& c = GetParam();
    const auto r = parse_announce_query(c.query, http_query_limits{});
    ASSERT_FALSE(r) << c.query;
    EXPECT_TRUE(is(r.error(), c.code)) << r.error().message();
    EXPECT_EQ(r.error().offset, c.offset) << r.error().message();
}

const std::string h19 = hash_q.substr(0, hash_q.size() - 3);
const std::size_t hv = 10;  // offset of the info_hash value in `base`
const std::size_t port_v = base.size() - 4;

INSTANTIATE_TEST_SUITE_P(
    Table, AnnounceQueryRejects,
    testing::Values(
        bad_query_case{"BadHexEscape", "info_hash=%1g" + hash_q.substr(3),
                       tracker_http_errc::bad_escape, hv},
        bad_query_case{"TruncatedEscape", base + "&key=ab%4", tracker_http_errc::bad_escape,
                       base.size() + 7},
        bad_query_case{"RawSpace", base + "&key=a b", tracker_http_errc::bad_target,
                       base.size() + 6},
        bad_query_case{"NineteenByteHash", "info_hash=" + h19 + "&peer_id=" + peer_q + "&port=1",
                       tracker_http_errc::bad_length, hv},
        bad_query_case{"TwentyOneByteHash",
                       "info_hash=" + hash_q + "%00&peer_id=" + peer_q + "&port=1",
                       tracker_http_errc::bad_length, hv},
        bad_query_case{"ShortPeerId", "info_hash=" + hash_q + "&peer_id=abc&port=1",
                       tracker_http_errc::bad_length, hv + hash_q.size() + 9},
        bad_query_case{"MissingPort", "info_hash=" + hash_q + "&peer_id=" + peer_q,
                       tracker_http_errc::missing_param, hv + hash_q.size() + 9 + 20},
        bad_query_case{"MissingInfoHash", "peer_id=" + peer_q + "&port=1",
                       tracker_http_errc::missing_param, 35},
        bad_query_case{"PortZero", "info_hash=" + hash_q + "&peer_id=" + peer_q + "&port=0",
                       tracker_http_errc::bad_number, port_v},
        bad_query_case{"PortTooBig", "info_hash=" + hash_q + "&peer_id=" + peer_q + "&port=65536",
                       tracker_http_errc::bad_number, port_v},
        bad_query_case{"NegativeLeft", base + "&left=-1", tracker_http_errc::bad_number,
                       base.size() + 6},
        bad_query_case{"HexUploaded", base + "&uploaded=0x10", tracker_http_errc::bad_number,
                       base.size() + 11},
        bad_query_case{"EmptyDownloaded", base + "&downloaded=", tracker_http_errc::bad_number,
                       base.size() + 12},
        bad_query_case{"OverflowingLeft", base + "&left=18446744073709551616",
                       tracker_http_errc::bad_number, base.size() + 6},
        bad_query_case{"UnknownEvent", base + "&event=paused", tracker_http_errc::bad_event,
                       base.size() + 7},
        bad_query_case{"DuplicatePort", base + "&port=7", tracker_http_errc::duplicate_param,
                       base.size() + 6},
        bad_query_case{"CompactTwo", base + "&compact=2", tracker_http_errc::bad_number,
                       base.size() + 9},
        bad_query_case{"MegabyteQuery", base + "&x=" + std::string(1 << 20, 'a'),
                       tracker_http_errc::too_long, 4096},
        bad_query_case{"TooManyParams",
                       [] {
                           std::string q = base;
                           for (int i = 0; i < 30; ++i) q += "&a=1";
                           return q;
                       }(),
                       tracker_http_errc::too_many_params, base.size() + 29 * 4 + 1}),
    [](const testing::TestParamInfo<bad_query_case>& i) { return i.param.name; });

TEST(AnnounceQuery, ParsesEveryField) {
    const auto r = parse_announce_query(
        base +
            "&uploaded=10&downloaded=20&left=30&compact=0"
            "&event=started&numwant=4&ip=10.0.0.1&key=ab%2Bc&supportcrypto=1",
        http_query_limits{});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->hash, expected_hash());
    EXPECT_EQ(std::string(r->peer_id.begin(), r->peer_id.end()), peer_q);
    EXPECT_EQ(r->port, 6881);
    EXPECT_EQ(r->uploaded, 10U);
    EXPECT_EQ(r->downloaded, 20U);
    EXPECT_EQ(r->left, 30U);
    EXPECT_EQ(r->format, peer_list_format::dictionaries);
    EXPECT_EQ(r->event, announce_event::started);
    EXPECT_EQ(r->numwant, 4U);
    EXPECT_EQ(r->ip, "10.0.0.1");
    EXPECT_EQ(r->key, "ab+c");
}

TEST(AnnounceQuery, DefaultsToCompactWithNoEvent) {
    const auto r = parse_announce_query(base, http_query_limits{});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->format, peer_list_format::compact);
    EXPECT_EQ(r->event, announce_event::none);
    EXPECT_FALSE(r->numwant);
    EXPECT_EQ(r->left, 0U);
}

TEST(AnnounceQuery, CapsNumwantAtTheLimit) {
    const auto r = parse_announce_query(base + "&numwant=100000", http_query_limits{});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->numwant, 200U);
}

TEST(AnnounceQuery, AcceptsEmptyAndStoppedAndCompletedEvents) {
    EXPECT_EQ(parse_announce_query(base + "&event=", {})->event, announce_event::none);
    EXPECT_EQ(parse_announce_query(base + "&event=empty", {})->event, announce_event::none);
    EXPECT_EQ(parse_announce_query(base + "&event=stopped", {})->event, announce_event::stopped);
    EXPECT_EQ(parse_announce_query(base + "&event=completed", {})->event,
              announce_event::completed);
}

TEST(AnnounceQuery, RoundTripsThroughTheClientBuilder) {
    announce_request a;
    for (std::uint8_t i = 0; i < 20; ++i) {
        a.hash.bytes[i] = static_cast<std::uint8_t>(i * 13 + 200);
        a.peer_id[i] = static_cast<std::uint8_t>(i * 7);
    }
    a.port = 51413;
    a.uploaded = 1;
    a.downloaded = 2;
    a.left = 0xffffffffffffffffULL;
    a.event = announce_event::completed;
    a.numwant = 50;
    a.key = "k&=%";
    const std::string q = build_announce_query(a);
    const auto back = parse_announce_query(q, http_query_limits{});
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, a);
}

TEST(ScrapeQuery, CollectsEveryInfoHash) {
    const auto r = parse_scrape_query("info_hash=" + hash_q + "&info_hash=" + peer_q, {});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2U);
    EXPECT_EQ((*r)[0], expected_hash());
    EXPECT_EQ((*r)[1].view(), peer_q);
}

TEST(ScrapeQuery, RejectsMoreHashesThanTheLimit) {
    http_query_limits lim;
    lim.max_scrape_hashes = 1;
    const auto r = parse_scrape_query("info_hash=" + hash_q + "&info_hash=" + peer_q, lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_http_errc::too_many_params));
    EXPECT_EQ(r.error().offset, 10 + hash_q.size() + 11);
}

TEST(RequestTarget, SplitsPathAndQuery) {
    const auto r = split_request_target("/announce?a=b?c", {});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->path, "/announce");
    EXPECT_EQ(r->query, "a=b?c");
    EXPECT_EQ(split_request_target("/scrape", {})->query, "");
}

TEST(RequestTarget, RejectsRelativeAndOverlongTargets) {
    EXPECT_TRUE(is(split_request_target("announce", {}).error(), tracker_http_errc::bad_target));
    EXPECT_TRUE(is(split_request_target("", {}).error(), tracker_http_errc::bad_target));
    const auto r = split_request_target("/" + std::string(5000, 'a'), {});
    EXPECT_TRUE(is(r.error(), tracker_http_errc::too_long));
    const auto sp = split_request_target("/ann ounce", {});
    ASSERT_FALSE(sp);
    EXPECT_EQ(sp.error().offset, 4U);
}

TEST(PercentEncode, LeavesOnlyUnreservedBytesRaw) {
    const std::vector<std::uint8_t> b{'a', 'Z', '0', '-', '.', '_', '~', ' ', '+', 0x00, 0xff};
    EXPECT_EQ(percent_encode(b), "aZ0-._~%20%2B%00%FF");
}

}  // namespace
}  // namespace minibit::wire
