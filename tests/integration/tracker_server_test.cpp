// minibit-tracker's server over real loopback sockets, on both io back ends: HTTP announce and
// scrape, malformed requests, BEP 15 over UDP, hostile datagrams, many idle connections.
// The client side is plain blocking POSIX sockets with receive timeouts, so every wait is bounded.
#include "minibit/tracker/server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "eintr.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "skip_or_fail.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

const std::string hash_q = "%11%22%33%44%55%66%77%88%99%aa%bb%cc%dd%ee%ff%00%01%02%03%04";

// A blocking socket with 5-second timeouts; closed on destruction.
class client_socket {
public:
    client_socket(int type, const io::address& to) : fd_(::socket(AF_INET, type, 0)) {
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ok_ = ::connect(fd_, to.data(), to.size()) == 0;
    }
    ~client_socket() { ::close(fd_); }
    client_socket(const client_socket&) = delete;
    client_socket& operator=(const client_socket&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }
    bool send_all(std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = test_io::send_retry(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    void set_timeout_ms(long ms) {
        timeval tv{ms / 1000, (ms % 1000) * 1000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    // Reads one HTTP answer (head + Content-Length body); "" on timeout or EOF first.
    std::string read_http() {
        while (true) {
            const std::size_t head_end = buf_.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                const std::size_t cl = buf_.find("Content-Length: ");
                const std::size_t len = std::stoul(buf_.substr(cl + 16));
                if (buf_.size() >= head_end + 4 + len) {
                    std::string out = buf_.substr(0, head_end + 4 + len);
                    buf_.erase(0, out.size());
                    return out;
                }
            }
            char tmp[65536];
            const ssize_t n = test_io::recv_retry(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return {};
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }
    std::vector<std::uint8_t> exchange(const std::vector<std::uint8_t>& packet) {
        test_io::send_retry(fd_, packet.data(), packet.size(), 0);
        std::vector<std::uint8_t> in(2048);
        const ssize_t n = test_io::recv_retry(fd_, in.data(), in.size(), 0);
        in.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return in;
    }

private:
    int fd_;
    bool ok_ = false;
    std::string buf_;
};

std::string body_of(const std::string& http) {
    return http.substr(http.find("\r\n\r\n") + 4);
}

std::string get(std::string_view target, std::string_view extra_headers = "") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra_headers) +
           "\r\n";
}

std::string announce(std::string_view peer_id, int port, std::string_view extra = "") {
    return "/announce?info_hash=" + hash_q + "&peer_id=" + std::string(peer_id) +
           "&port=" + std::to_string(port) + "&left=0" + std::string(extra);
}

// An io back end, and the reactors' batched wake-ups (io_uring, kernel 6.12+; else ignored).
struct variant {
    io::backend_kind backend;
    std::chrono::microseconds batch_wait{0};
    const char* name;
};

class TrackerServer : public ::testing::TestWithParam<variant> {
protected:
    void SetUp() override {
        if (GetParam().backend == io::backend_kind::uring && !io::uring_available()) {
            MINIBIT_SKIP_OR_FAIL("io_uring is not available on this machine");
        }
        server_config c;
        c.http = io::address::loopback_v4(0);
        c.udp = io::address::loopback_v4(0);
        c.threads = 2;
        c.backend = GetParam().backend;
        c.batch_wait = GetParam().batch_wait;
        auto s = tracker_server::start(c, nullptr);
        ASSERT_TRUE(s) << s.error().message();
        server_ = std::move(*s);
    }
    io::address http() const { return *server_->http_address(); }
    io::address udp() const { return *server_->udp_address(); }
    std::unique_ptr<tracker_server> server_;
};

TEST_P(TrackerServer, HttpAnnounceAndScrapeRoundTripOnOneKeepAliveConnection) {
    client_socket a(SOCK_STREAM, http());
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(a.send_all(get(announce("AAAAAAAAAAAAAAAAAAAA", 1111))));
    const std::string first = a.read_http();
    ASSERT_EQ(first.substr(0, 15), "HTTP/1.1 200 OK");
    ASSERT_TRUE(a.send_all(get(announce("BBBBBBBBBBBBBBBBBBBB", 2222, "&numwant=10")) +
                           get("/scrape?info_hash=" + hash_q)));
    const auto second = wire::parse_announce_response(body_of(a.read_http()), {});
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(second->peers4, (std::vector<std::uint8_t>{127, 0, 0, 1, 0x04, 0x57}));
    EXPECT_EQ(second->complete, 2U);
    const auto scrape = wire::parse_scrape_response(body_of(a.read_http()), {});
    ASSERT_TRUE(scrape);
    ASSERT_EQ(scrape->size(), 1U);
    EXPECT_EQ((*scrape)[0].complete, 2U);
}

TEST_P(TrackerServer, MalformedAnnouncesEachGetAFailureReason) {
    const std::vector<std::string> targets{
        "/announce?info_hash=%4&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1",
        "/announce?info_hash=" + hash_q.substr(3) + "&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1",
        "/announce?info_hash=" + hash_q + "%00&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1",
        "/announce?info_hash=" + hash_q + "&peer_id=AAAAAAAAAAAAAAAAAAAA",
        "/announce?info_hash=" + hash_q + "&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1&left=-1",
        announce("AAAAAAAAAAAAAAAAAAAA", 1, "&event=sleeping"),
    };
    client_socket c(SOCK_STREAM, http());
    ASSERT_TRUE(c.ok());
    for (const auto& t : targets) {
        ASSERT_TRUE(c.send_all(get(t)));
        const auto r = wire::parse_announce_response(body_of(c.read_http()), {});
        ASSERT_FALSE(r) << t;
        EXPECT_TRUE(is(r.error(), wire::tracker_http_errc::tracker_failure)) << r.error().message();
    }
}

TEST_P(TrackerServer, MegabyteQueryGetsAFailureReasonNotAReset) {
    client_socket c(SOCK_STREAM, http());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send_all("GET /announce?" + std::string(1 << 20, 'a') + " HTTP/1.1\r\n\r\n"));
    const std::string reply = c.read_http();
    ASSERT_EQ(reply.substr(0, 12), "HTTP/1.1 431");
    EXPECT_NE(body_of(reply).find("failure reason"), std::string::npos);
}

TEST_P(TrackerServer, UdpConnectAnnounceScrape) {
    client_socket u(SOCK_DGRAM, udp());
    std::vector<std::uint8_t> out;
    wire::encode_udp(wire::udp_request{wire::udp_connect_request{0x1234}}, out);
    const auto conn = wire::parse_udp_response(u.exchange(out), wire::udp_peer_family::ipv4);
    ASSERT_TRUE(conn);
    const auto cid = std::get<wire::udp_connect_response>(*conn).connection_id;
    wire::udp_announce_request a;
    a.connection_id = cid;
    a.transaction_id = 9;
    a.hash.bytes.fill(0x42);
    a.port = 7777;
    a.left = 100;
    out.clear();
    wire::encode_udp(wire::udp_request{a}, out);
    const auto ann = wire::parse_udp_response(u.exchange(out), wire::udp_peer_family::ipv4);
    ASSERT_TRUE(ann);
    EXPECT_EQ(std::get<wire::udp_announce_response>(*ann).leechers, 1U);
    out.clear();
    wire::encode_udp(wire::udp_request{wire::udp_scrape_request{cid, 10, {a.hash}}}, out);
    const auto sc = wire::parse_udp_response(u.exchange(out), wire::udp_peer_family::ipv4);
    ASSERT_TRUE(sc);
    EXPECT_EQ(std::get<wire::udp_scrape_response>(*sc).entries.at(0).leechers, 1U);
}

TEST_P(TrackerServer, HostileDatagramsAreDroppedAndTheServerLives) {
    client_socket u(SOCK_DGRAM, udp());
    u.set_timeout_ms(300);
    const std::vector<std::vector<std::uint8_t>> drops{
        {0xde, 0xad},                                                        // truncated
        std::vector<std::uint8_t>(97, 0x00),                                 // 97 zero bytes
        {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1},                    // action 9
        {0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0},  // connect + 1 byte
    };
    for (const auto& d : drops) EXPECT_TRUE(u.exchange(d).empty());
    // An announce with a connection id the tracker never issued gets no answer at all.
    wire::udp_announce_request a;
    a.connection_id = 0x0102030405060708ULL;
    a.transaction_id = 77;
    a.port = 1;
    std::vector<std::uint8_t> out;
    wire::encode_udp(wire::udp_request{a}, out);
    EXPECT_TRUE(u.exchange(out).empty());
    EXPECT_EQ(server_->service().stats().total(error_kind::bad_connection_id), 1U);
    out.clear();
    wire::encode_udp(wire::udp_request{wire::udp_connect_request{5}}, out);
    u.set_timeout_ms(5000);
    EXPECT_EQ(u.exchange(out).size(), 16U);
}

TEST_P(TrackerServer, ThousandIdleConnectionsDoNotStarveAnotherClient) {
    std::vector<std::unique_ptr<client_socket>> idle;
    for (int i = 0; i < 1000; ++i) {
        idle.push_back(std::make_unique<client_socket>(SOCK_STREAM, http()));
        ASSERT_TRUE(idle.back()->ok()) << i;
    }
    // Half of them even started a request and stalled.
    for (int i = 0; i < 1000; i += 2) ASSERT_TRUE(idle[i]->send_all("GET /annou"));
    client_socket c(SOCK_STREAM, http());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send_all(get("/stats")));
    const std::string stats = c.read_http();
    ASSERT_EQ(stats.substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_NE(stats.find("\"torrents\":0"), std::string::npos);
}

TEST_P(TrackerServer, MetricsAreServedInPrometheusFormat) {
    client_socket c(SOCK_STREAM, http());
    ASSERT_TRUE(c.send_all(get("/metrics", "Connection: close\r\n")));
    const std::string m = c.read_http();
    EXPECT_NE(m.find("Connection: close"), std::string::npos);
    EXPECT_NE(m.find("# TYPE minibit_tracker_requests_total counter"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, TrackerServer,
    ::testing::Values(variant{io::backend_kind::epoll, {}, "epoll"},
                      variant{io::backend_kind::uring, {}, "uring"},
                      variant{io::backend_kind::uring, std::chrono::microseconds(250),
                              "uring_batch_wait_250us"}),
    [](const ::testing::TestParamInfo<variant>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace minibit::tracker
