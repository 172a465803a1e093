#include "minibit/wire/tracker_http.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::wire {
namespace {

TEST(AnnounceResponseParser, RoundTripsTheServerEncoding) {
    announce_response r;
    r.interval = 900;
    r.min_interval = 30;
    r.complete = 5;
    r.incomplete = 6;
    r.peers4 = {1, 2, 3, 4, 0x1a, 0xe1};
    r.peers6.assign(18, 9);
    r.warning_message = "hi";
    const auto back = parse_announce_response(
        encode_announce_response(r, peer_list_format::compact), {});
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, r);
}

TEST(AnnounceResponseParser, TurnsDictionaryPeersIntoCompactRecords) {
    announce_response r;
    r.peers4 = {10, 0, 0, 7, 0x00, 0x50};
    r.peers6.assign(18, 0);
    r.peers6[15] = 1;
    r.peers6[17] = 0x51;
    const auto back = parse_announce_response(
        encode_announce_response(r, peer_list_format::dictionaries), {});
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->peers4, r.peers4);
    EXPECT_EQ(back->peers6, r.peers6);
}

TEST(AnnounceResponseParser, AcceptsUnsortedKeysAndPeerIds) {
    const auto r = parse_announce_response(
        "d8:intervali60e5:peersld7:peer id20:aaaaaaaaaaaaaaaaaaaa2:ip9:127.0.0.14:porti1eee"
        "8:completei1ee",
        {});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->interval, 60U);
    EXPECT_EQ(r->complete, 1U);
    EXPECT_EQ(r->peers4, (std::vector<std::uint8_t>{127, 0, 0, 1, 0, 1}));
}

struct bad_body_case {
    std::string name;
    std::string body;
    tracker_http_errc code;
    std::string reason;
};

class AnnounceResponseParserRejects : public testing::TestWithParam<bad_body_case> {};

TEST_P(AnnounceResponseParserRejects, WithExactCodeAndReason) {
    const auto& c = GetParam();
    const auto r = parse_announce_response(c.body, http_response_limits{});
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), c.code)) << r.error().message();
    EXPECT_EQ(r.error().reason, c.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AnnounceResponseParserRejects,
    testing::Values(bad_body_case{"FailureReason", "d14:failure reason9:not founde",
                                  tracker_http_errc::tracker_failure, "not found"},
                    bad_body_case{"NotADict", "li1ee", tracker_http_errc::bad_bencode,
                                  "response is not a dict"},
                    bad_body_case{"MissingInterval", "d5:peers0:e", tracker_http_errc::bad_bencode,
                                  "missing interval"},
                    bad_body_case{"NegativeInterval", "d8:intervali-1ee",
                                  tracker_http_errc::bad_bencode, "interval is not a count"},
                    bad_body_case{"CompactPeersNotMultipleOfSix", "d8:intervali1e5:peers5:abcdee",
                                  tracker_http_errc::bad_bencode,
                                  "compact peers length is not a multiple of 6"},
                    bad_body_case{"Peers6NotMultipleOf18", "d8:intervali1e6:peers66:abcdefe",
                                  tracker_http_errc::bad_bencode,
                                  "peers6 length is not a multiple of 18"},
                    bad_body_case{"PeerDictWithoutPort", "d8:intervali1e5:peersld2:ip3:::1eee",
                                  tracker_http_errc::bad_bencode, "peer entry needs ip and port"},
                    bad_body_case{"PortOutOfRange",
                                  "d8:intervali1e5:peersld2:ip3:::14:porti65536eeee",
                                  tracker_http_errc::bad_bencode, "peer entry needs ip and port"}),
    [](const testing::TestParamInfo<bad_body_case>& i) { return i.param.name; });

TEST(AnnounceResponseParser, RejectsTruncatedBencodeWithItsOffset) {
    const auto r = parse_announce_response("d8:intervali1e5:peers", {});
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_http_errc::bad_bencode));
    EXPECT_EQ(r.error().offset, 21U);
}

TEST(AnnounceResponseParser, BoundsThePeerCount) {
    http_response_limits lim;
    lim.max_peers = 1;
    const auto r = parse_announce_response("d8:intervali1e5:peers12:abcdefghijkle", lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_http_errc::bad_bencode));
}

TEST(ScrapeResponseParser, RoundTripsTheServerEncoding) {
    std::vector<scrape_entry> e(2);
    e[0].hash.bytes.fill(3);
    e[0].complete = 1;
    e[0].downloaded = 2;
    e[0].incomplete = 3;
    e[1].hash.bytes.fill(4);
    const auto back = parse_scrape_response(encode_scrape_response(e), {});
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, e);
}

TEST(ScrapeResponseParser, RejectsShortHashKeys) {
    const auto r = parse_scrape_response("d5:filesd3:abcdeee", {});
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_http_errc::bad_bencode));
}

TEST(ScrapeResponseParser, ReportsTheTrackersFailureReasonLikeAnnounce) {
    const auto r = parse_scrape_response("d14:failure reason11:no scrapinge", {});
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_http_errc::tracker_failure)) << r.error().message();
    EXPECT_EQ(r.error().reason, "no scraping");
    const auto odd = parse_scrape_response("d14:failure reasoni7ee", {});
    ASSERT_FALSE(odd);
    EXPECT_EQ(odd.error().reason, "(not a string)");
}

}  // namespace
}  // namespace minibit::wire
