#include "minibit/wire/tracker_udp.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::wire {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes hex(std::string_view h) {
    bytes out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
        out.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    }
    return out;
}

udp_announce_request sample_announce() {
    udp_announce_request a;
    a.connection_id = 0x0102030405060708ULL;
    a.transaction_id = 0xdeadbeef;
    a.hash.bytes.fill(0xaa);
    a.peer_id.fill(0xbb);
    a.downloaded = 1;
    a.left = 2;
    a.uploaded = 3;
    a.event = announce_event::started;
    a.ip = 0;
    a.key = 0x11223344;
    a.num_want = -1;
    a.port = 6881;
    return a;
}

TEST(UdpTracker, ConnectRequestHasTheExactBep15Layout) {
    bytes out;
    encode_udp(udp_request{udp_connect_request{0x01020304}}, out);
    EXPECT_EQ(out, hex("0000041727101980"
                       "00000000"
                       "01020304"));
    const auto back = parse_udp_request(out);
    ASSERT_TRUE(back);
    EXPECT_EQ(std::get<udp_connect_request>(*back).transaction_id, 0x01020304U);
}

TEST(UdpTracker, AnnounceRequestRoundTripsIn98Bytes) {
    bytes out;
    encode_udp(udp_request{sample_announce()}, out);
    ASSERT_EQ(out.size(), 98U);
    EXPECT_EQ(bytes(out.begin() + 80, out.end()), hex("00000002"
                                                      "00000000"
                                                      "11223344"
                                                      "ffffffff"
                                                      "1ae1"));
    const auto back = parse_udp_request(out);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(std::get<udp_announce_request>(*back), sample_announce());
}

TEST(UdpTracker, AnnounceAcceptsBep41OptionsAfterTheFixedPart) {
    bytes out;
    encode_udp(udp_request{sample_announce()}, out);
    out.insert(out.end(), {0x02, 0x05, '/', 'a', 'n', 'n', 'o', 0x00});
    ASSERT_TRUE(parse_udp_request(out));
}

TEST(UdpTracker, ScrapeRequestRoundTrips) {
    udp_scrape_request s;
    s.connection_id = 42;
    s.transaction_id = 7;
    s.hashes.resize(3);
    s.hashes[1].bytes.fill(1);
    bytes out;
    encode_udp(udp_request{s}, out);
    ASSERT_EQ(out.size(), 16U + 60U);
    const auto back = parse_udp_request(out);
    ASSERT_TRUE(back);
    EXPECT_EQ(std::get<udp_scrape_request>(*back), s);
}

struct bad_packet_case {
    std::string name;
    bytes packet;
    tracker_udp_errc code;
    std::size_t offset;
};

class UdpRequestRejects : public testing::TestWithParam<bad_packet_case> {};

TEST_P(UdpRequestRejects, WithExactCodeAndOffset) {
    const auto& c = GetParam();
    const auto r = parse_udp_request(c.packet);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), c.code)) << r.error().message();
    EXPECT_EQ(r.error().offset, c.offset);
}

bytes announce_bytes() {
    bytes out;
    encode_udp(udp_request{sample_announce()}, out);
    return out;
}

bytes with_byte(bytes b, std::size_t i, std::uint8_t v) {
    b[i] = v;
    return b;
}

INSTANTIATE_TEST_SUITE_P(
    Table, UdpRequestRejects,
    testing::Values(bad_packet_case{"Empty", {}, tracker_udp_errc::truncated, 0},
                    bad_packet_case{"FifteenBytes", bytes(15, 0), tracker_udp_errc::truncated, 15},
                    bad_packet_case{"ConnectWithoutMagic",
                                    hex("0000041727101981"
                                        "00000000"
                                        "00000001"),
                                    tracker_udp_errc::bad_protocol_id, 0},
                    bad_packet_case{"ConnectTooLong",
                                    hex("0000041727101980"
                                        "00000000"
                                        "00000001"
                                        "00"),
                                    tracker_udp_errc::bad_length, 17},
                    bad_packet_case{"ActionError",
                                    hex("0000000000000001"
                                        "00000003"
                                        "00000001"),
                                    tracker_udp_errc::bad_action, 8},
                    bad_packet_case{"ActionHuge",
                                    hex("0000000000000001"
                                        "ffffffff"
                                        "00000001"),
                                    tracker_udp_errc::bad_action, 8},
                    bad_packet_case{"Announce97Bytes",
                                    [] {
                                        bytes b = announce_bytes();
                                        b.pop_back();
                                        return b;
                                    }(),
                                    tracker_udp_errc::truncated, 97},
                    bad_packet_case{"AnnounceEventFour", with_byte(announce_bytes(), 83, 4),
                                    tracker_udp_errc::bad_event, 80},
                    bad_packet_case{"ScrapeNoHashes",
                                    hex("0000000000000001"
                                        "00000002"
                                        "00000001"),
                                    tracker_udp_errc::too_many_hashes, 16},
                    bad_packet_case{"ScrapePartialHash",
                                    [] {
                                        bytes b = hex(
                                            "0000000000000001"
                                            "00000002"
                                            "00000001");
                                        b.resize(16 + 19);
                                        return b;
                                    }(),
                                    tracker_udp_errc::bad_length, 35},
                    bad_packet_case{"Scrape75Hashes",
                                    [] {
                                        bytes b = hex(
                                            "0000000000000001"
                                            "00000002"
                                            "00000001");
                                        b.resize(16 + 75 * 20);
                                        return b;
                                    }(),
                                    tracker_udp_errc::too_many_hashes, 16}),
    [](const testing::TestParamInfo<bad_packet_case>& i) { return i.param.name; });

TEST(UdpTracker, ResponsesRoundTrip) {
    const std::vector<udp_response> cases{
        udp_connect_response{9, 0x1122334455667788ULL},
        udp_announce_response{9, 1800, 2, 3, {127, 0, 0, 1, 0x1a, 0xe1}},
        udp_scrape_response{9, {{1, 2, 3}, {4, 5, 6}}},
        udp_error_response{9, "bad connection id"},
    };
    for (const auto& c : cases) {
        bytes out;
        encode_udp(c, out);
        const auto back = parse_udp_response(out, udp_peer_family::ipv4);
        ASSERT_TRUE(back) << back.error().message();
        EXPECT_EQ(*back, c);
    }
}

TEST(UdpTracker, AnnounceResponseUsesTheFamilyRecordSize) {
    bytes out;
    encode_udp(udp_response{udp_announce_response{1, 2, 3, 4, bytes(18, 7)}}, out);
    EXPECT_EQ(out.size(), 38U);
    const auto v6 = parse_udp_response(out, udp_peer_family::ipv6);
    ASSERT_TRUE(v6);
    EXPECT_EQ(std::get<udp_announce_response>(*v6).peers.size(), 18U);
    out.resize(out.size() - 12);  // one IPv4 record: not a whole IPv6 record
    EXPECT_TRUE(parse_udp_response(out, udp_peer_family::ipv4));
    const auto r = parse_udp_response(out, udp_peer_family::ipv6);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), tracker_udp_errc::bad_length));
    EXPECT_EQ(r.error().offset, 26U);
}

TEST(UdpTracker, RejectsMalformedResponses) {
    EXPECT_TRUE(is(parse_udp_response(bytes(7, 0), udp_peer_family::ipv4).error(),
                   tracker_udp_errc::truncated));
    EXPECT_TRUE(is(parse_udp_response(hex("00000000"
                                          "00000001"
                                          "00"),
                                      udp_peer_family::ipv4)
                       .error(),
                   tracker_udp_errc::bad_length));
    EXPECT_TRUE(is(parse_udp_response(hex("00000002"
                                          "00000001"
                                          "00"),
                                      udp_peer_family::ipv4)
                       .error(),
                   tracker_udp_errc::bad_length));
    EXPECT_TRUE(is(parse_udp_response(hex("00000009"
                                          "00000001"),
                                      udp_peer_family::ipv4)
                       .error(),
                   tracker_udp_errc::bad_action));
}

TEST(UdpTracker, ReadsTheTransactionIdOfAnyRequest) {
    EXPECT_EQ(udp_transaction_id(announce_bytes()), 0xdeadbeefU);
    EXPECT_FALSE(udp_transaction_id(bytes(15, 0)));
}

}  // namespace
}  // namespace minibit::wire
