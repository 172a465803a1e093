#include "minibit/tracker/service.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

const std::string hash_q = "%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa%aa";

std::string announce_target(std::string_view peer_id, int port, std::string_view extra = "") {
    return "/announce?info_hash=" + hash_q + "&peer_id=" + std::string(peer_id) +
           "&port=" + std::to_string(port) + "&left=0" + std::string(extra);
}

io::address addr(std::string_view text) {
    return *io::address::parse(text);
}

class TrackerService : public testing::Test {
protected:
    tracker_service svc_{service_config{}, 5, connection_id_issuer({})};
};

TEST_F(TrackerService, HttpAnnounceReturnsOtherPeersCompactly) {
    (void)svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1111), addr("10.0.0.1:5000"),
                           seconds{10});
    const auto ok = svc_.handle_http(
        "/announce?info_hash=" + hash_q + "&peer_id=BBBBBBBBBBBBBBBBBBBB&port=2222&left=5",
        addr("10.0.0.2:5001"), seconds{10});
    const auto parsed = wire::parse_announce_response(ok.body, {});
    ASSERT_TRUE(parsed) << parsed.error().message() << ok.body;
    EXPECT_EQ(parsed->complete, 1U);
    EXPECT_EQ(parsed->incomplete, 1U);
    EXPECT_EQ(parsed->interval, 1800U);
    EXPECT_EQ(parsed->min_interval, 60U);
    EXPECT_EQ(parsed->peers4, (std::vector<std::uint8_t>{10, 0, 0, 1, 0x04, 0x57}));
}

struct bad_http_case {
    std::string name;
    std::string target;
    std::string reason_part;
};

class TrackerServiceRejects : public testing::TestWithParam<bad_http_case> {};

TEST_P(TrackerServiceRejects, WithABencodedFailureReason) {
    tracker_service svc(service_config{}, 1, connection_id_issuer({}));
    const auto reply = svc.handle_http(GetParam().target, addr("10.0.0.1:1"), seconds{1});
    const auto parsed = wire::parse_announce_response(reply.body, {});
    ASSERT_FALSE(parsed);
    ASSERT_TRUE(is(parsed.error(), wire::tracker_http_errc::tracker_failure)) << reply.body;
    EXPECT_NE(parsed.error().reason.find(GetParam().reason_part), std::string::npos)
        << parsed.error().reason;
    EXPECT_EQ(svc.stats().total(error_kind::bad_request), 1U);
}

INSTANTIATE_TEST_SUITE_P(
    Table, TrackerServiceRejects,
    testing::Values(
        bad_http_case{"BadPercent", "/announce?info_hash=%zz&peer_id=x&port=1",
                      "bad percent escape"},
        bad_http_case{
            "NineteenByteHash",
            "/announce?info_hash=" + hash_q.substr(3) + "&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1",
            "info_hash is not exactly 20 bytes"},
        bad_http_case{"MissingPort",
                      "/announce?info_hash=" + hash_q + "&peer_id=AAAAAAAAAAAAAAAAAAAA",
                      "missing port"},
        bad_http_case{
            "NegativeLeft",
            "/announce?info_hash=" + hash_q + "&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1&left=-3",
            "non-negative"},
        bad_http_case{"UnknownEvent", announce_target("AAAAAAAAAAAAAAAAAAAA", 1, "&event=x"),
                      "unknown event"},
        bad_http_case{"DuplicateLeft", announce_target("AAAAAAAAAAAAAAAAAAAA", 1, "&left=5"),
                      "left given twice"},
        bad_http_case{"HugeQuery", "/announce?" + std::string(1 << 20, 'a'), "too long"},
        bad_http_case{"FullScrape", "/scrape", "full scrape"}),
    [](const testing::TestParamInfo<bad_http_case>& i) { return i.param.name; });

TEST_F(TrackerService, ScrapeCountsSeedersAndRefusesUnlistedTorrents) {
    (void)svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1111), addr("10.0.0.1:5000"),
                           seconds{10});
    auto reply = svc_.handle_http("/scrape?info_hash=" + hash_q, addr("10.0.0.1:1"), seconds{10});
    auto parsed = wire::parse_scrape_response(reply.body, {});
    ASSERT_TRUE(parsed) << reply.body;
    ASSERT_EQ(parsed->size(), 1U);
    EXPECT_EQ((*parsed)[0].complete, 1U);
    svc_.set_filter(std::make_shared<const info_hash_filter>(
        *info_hash_filter::parse(std::string(40, 'b'), filter_mode::allow_listed)));
    reply = svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1111), addr("10.0.0.1:5000"),
                             seconds{10});
    EXPECT_EQ(reply.body, "d14:failure reason19:torrent not allowede");
    EXPECT_EQ(svc_.stats().total(error_kind::not_allowed), 1U);
}

TEST_F(TrackerService, StatsAndMetricsReportTheTable) {
    (void)svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1111), addr("10.0.0.1:5000"),
                           seconds{10});
    svc_.set_start(seconds{4});
    const auto stats = svc_.handle_http("/stats", addr("10.0.0.1:1"), seconds{10});
    EXPECT_EQ(stats.content_type, "application/json");
    for (const char* key :
         {"\"torrents\":1", "\"peers\":1", "\"seeders\":1", "\"leechers\":0",
          "\"uptime_seconds\":6", "\"http_connections\":0", "\"http\":{\"announce\":{\"total\":1",
          "\"udp\":{", "\"per_second\":", "\"errors\":{\"bad_request\":0"}) {
        EXPECT_NE(stats.body.find(key), std::string::npos) << key << " in " << stats.body;
    }
    const auto metrics = svc_.handle_http("/metrics", addr("10.0.0.1:1"), seconds{10});
    EXPECT_NE(metrics.body.find(
                  "minibit_tracker_requests_total{protocol=\"http\",kind=\"announce\"} 1\n"),
              std::string::npos);
    EXPECT_NE(metrics.body.find("minibit_tracker_peers{state=\"seeder\"} 1\n"), std::string::npos);
    EXPECT_EQ(svc_.handle_http("/nope", addr("10.0.0.1:1"), seconds{1}).status, 404);
}

std::vector<std::uint8_t> udp_round(tracker_service& svc, const wire::udp_request& req,
                                    const io::address& from, seconds now) {
    std::vector<std::uint8_t> packet;
    wire::encode_udp(req, packet);
    std::vector<std::uint8_t> reply;
    svc.handle_udp(packet, from, now, reply);
    return reply;
}

TEST_F(TrackerService, UdpConnectAnnounceScrape) {
    const auto from = addr("127.0.0.1:7000");
    auto reply = udp_round(svc_, wire::udp_connect_request{77}, from, seconds{100});
    auto resp = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
    ASSERT_TRUE(resp);
    const auto cid = std::get<wire::udp_connect_response>(*resp).connection_id;
    wire::udp_announce_request a;
    a.connection_id = cid;
    a.transaction_id = 78;
    a.hash.bytes.fill(0xaa);
    a.port = 6881;
    a.left = 10;
    reply = udp_round(svc_, a, from, seconds{150});
    resp = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
    ASSERT_TRUE(resp);
    const auto& ann = std::get<wire::udp_announce_response>(*resp);
    EXPECT_EQ(ann.transaction_id, 78U);
    EXPECT_EQ(ann.leechers, 1U);
    EXPECT_EQ(ann.seeders, 0U);
    EXPECT_TRUE(ann.peers.empty());
    wire::udp_scrape_request s{cid, 79, {a.hash, info_hash{}}};
    reply = udp_round(svc_, s, from, seconds{150});
    resp = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
    ASSERT_TRUE(resp);
    const auto& sc = std::get<wire::udp_scrape_response>(*resp);
    ASSERT_EQ(sc.entries.size(), 2U);
    EXPECT_EQ(sc.entries[0].leechers, 1U);
    EXPECT_EQ(sc.entries[1].leechers, 0U);
}

// Announces from 30 other peers, then one with the given num_want; returns the peers answered.
std::size_t udp_peers_for(tracker_service& svc, std::int32_t num_want) {
    const auto now = seconds{100};
    wire::udp_announce_request a;
    a.hash.bytes.fill(0xbb);
    a.left = 10;
    for (int i = 1; i <= 31; ++i) {
        const auto from = addr("10.1.0." + std::to_string(i) + ":7000");
        auto reply = udp_round(svc, wire::udp_connect_request{1}, from, now);
        auto conn = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
        EXPECT_TRUE(conn);
        a.connection_id = std::get<wire::udp_connect_response>(*conn).connection_id;
        a.transaction_id = static_cast<std::uint32_t>(i);
        a.port = static_cast<std::uint16_t>(6000 + i);
        a.num_want = i == 31 ? num_want : 0;
        reply = udp_round(svc, a, from, now);
        auto resp = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
        EXPECT_TRUE(resp);
        const auto* ann = std::get_if<wire::udp_announce_response>(&*resp);
        EXPECT_NE(ann, nullptr);
        if (ann == nullptr) return 0;
        if (i == 31) return ann->peers.size() / 6;
        EXPECT_TRUE(ann->peers.empty()) << "num_want 0 answers no peers";
    }
    return 0;
}

TEST_F(TrackerService, UdpNumWantZeroMeansNoPeersAndNegativeMeansTheDefault) {
    // BEP 15: num_want -1 is "default"; 0 is a client asking for no peers.
    EXPECT_EQ(udp_peers_for(svc_, 0), 0U);
    service_config small;
    small.table.default_numwant = 20;
    tracker_service a(small, 1, connection_id_issuer({}));
    EXPECT_EQ(udp_peers_for(a, -1), 20U);
    tracker_service b(small, 1, connection_id_issuer({}));
    EXPECT_EQ(udp_peers_for(b, -7), 20U);
    tracker_service c(small, 1, connection_id_issuer({}));
    EXPECT_EQ(udp_peers_for(c, 25), 25U);
    tracker_service d(small, 1, connection_id_issuer({}));
    EXPECT_EQ(udp_peers_for(d, 1 << 30), 30U) << "all 30 others (the cap is 200)";
}

TEST_F(TrackerService, HttpNumwantZeroMeansNoPeersAndAbsentMeansTheDefault) {
    for (int i = 1; i <= 30; ++i) {
        (void)svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1000 + i),
                               addr("10.2.0." + std::to_string(i) + ":5000"), seconds{10});
    }
    auto peers_for = [&](std::string_view extra) {
        const auto reply = svc_.handle_http(announce_target("BBBBBBBBBBBBBBBBBBBB", 999, extra),
                                            addr("10.2.1.1:5000"), seconds{10});
        const auto parsed = wire::parse_announce_response(reply.body, {});
        EXPECT_TRUE(parsed) << reply.body;
        return parsed ? parsed->peers4.size() / 6 : 0;
    };
    EXPECT_EQ(peers_for("&numwant=0"), 0U);
    EXPECT_EQ(peers_for("&numwant=3"), 3U);
    EXPECT_EQ(peers_for(""), 30U) << "default 50 covers all 30 others";
}

TEST_F(TrackerService, UdpRefusesWrongOrStaleConnectionIds) {
    const auto from = addr("127.0.0.1:7000");
    auto reply = udp_round(svc_, wire::udp_connect_request{1}, from, seconds{100});
    const auto cid = std::get<wire::udp_connect_response>(
                         *wire::parse_udp_response(reply, wire::udp_peer_family::ipv4))
                         .connection_id;
    wire::udp_announce_request a;
    a.connection_id = cid;
    a.transaction_id = 5;
    a.port = 1;
    for (const auto& [who, when] :
         {std::pair{addr("127.0.0.2:7000"), seconds{100}}, std::pair{from, seconds{100 + 300}}}) {
        reply = udp_round(svc_, a, who, when);
        EXPECT_TRUE(reply.empty()) << "no answer, not even an error, without a valid id";
    }
    wire::udp_scrape_request s{cid, 6, {info_hash{}}};
    EXPECT_TRUE(udp_round(svc_, s, addr("127.0.0.2:7000"), seconds{100}).empty());
    EXPECT_EQ(svc_.totals().peers, 0U);
    EXPECT_EQ(svc_.stats().total(error_kind::bad_connection_id), 3U);
}

TEST_F(TrackerService, UdpDropsRequestsAboveTheLargestScrape) {
    const auto from = addr("127.0.0.1:7000");
    auto reply = udp_round(svc_, wire::udp_connect_request{1}, from, seconds{100});
    const auto cid = std::get<wire::udp_connect_response>(
                         *wire::parse_udp_response(reply, wire::udp_peer_family::ipv4))
                         .connection_id;
    wire::udp_announce_request a;
    a.connection_id = cid;
    a.transaction_id = 5;
    a.port = 1;
    std::vector<std::uint8_t> packet;
    wire::encode_udp(a, packet);
    packet.resize(1496);  // BEP 41 option bytes (zeros: end of options) up to the bound: served
    svc_.handle_udp(packet, from, seconds{100}, reply);
    EXPECT_FALSE(reply.empty());
    packet.resize(1497);
    svc_.handle_udp(packet, from, seconds{100}, reply);
    EXPECT_TRUE(reply.empty());
    EXPECT_EQ(svc_.stats().total(error_kind::bad_request), 1U);
}

TEST_F(TrackerService, UdpDropsGarbage) {
    std::vector<std::uint8_t> reply{1};
    const std::vector<std::uint8_t> junk(40, 0xee);
    svc_.handle_udp(junk, addr("127.0.0.1:1"), seconds{1}, reply);
    EXPECT_TRUE(reply.empty());
    svc_.handle_udp({}, addr("127.0.0.1:1"), seconds{1}, reply);
    EXPECT_TRUE(reply.empty());
    EXPECT_EQ(svc_.stats().total(error_kind::bad_request), 2U);
}

TEST_F(TrackerService, ExpiresPeersThroughEachPartOfTheShards) {
    (void)svc_.handle_http(announce_target("AAAAAAAAAAAAAAAAAAAA", 1111), addr("10.0.0.1:5000"),
                           seconds{10});
    ASSERT_EQ(svc_.totals().peers, 1U);
    svc_.expire(0, 2, seconds{10 + 4000});
    svc_.expire(1, 2, seconds{10 + 4000});
    EXPECT_EQ(svc_.totals().peers, 0U);
    EXPECT_EQ(svc_.totals().torrents, 0U);
}

TEST(ServiceConfig, RejectsIntervalAbovePeerTimeout) {
    service_config c;
    c.interval = seconds{100000};
    EXPECT_TRUE(is(c.validate().error(), tracker_errc::bad_config));
}

}  // namespace
}  // namespace minibit::tracker
