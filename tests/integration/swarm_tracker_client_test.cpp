// The tracker client against small HTTP and UDP trackers written in the test (real loopback
// sockets): announce query and compact peers, chunked answers, BEP 12 fail-over and promotion,
// failure reasons, silent and oversized trackers, the stopped announce, and a UDP tracker that
// forgot its connection ids (restarted). Both io back ends.
#include <netdb.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "minibit/swarm/tracker_client.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

/// An HTTP tracker stub: records each request target, answers with `reply` (or stays silent).
class stub_tracker {
public:
    explicit stub_tracker(io::reactor& r) : reactor_(r) {
        auto l = r.listen(
            io::address::loopback_v4(0), {}, [this](io::connection c, const io::address&) {
                auto buf = std::make_shared<std::string>();
                const io::conn_id id = c.id();
                io::conn_handlers h{[this, buf, id](std::span<const std::byte> b) {
                                        buf->append(reinterpret_cast<const char*>(b.data()),
                                                    b.size());
                                        const auto end = buf->find("\r\n\r\n");
                                        if (end == std::string::npos) return;
                                        const auto line = buf->substr(0, buf->find("\r\n"));
                                        targets.push_back(line.substr(4, line.rfind(' ') - 4));
                                        buf->clear();
                                        if (silent) return;
                                        std::vector<std::byte> out(reply.size());
                                        std::memcpy(out.data(), reply.data(), reply.size());
                                        (void)reactor_.send(id, std::move(out));
                                        reactor_.close(id, io::close_mode::after_flush);
                                    },
                                    [](const std::optional<error>&) {}};
                EXPECT_TRUE(reactor_.start(id, std::move(h)));
            });
        EXPECT_TRUE(l);
        listener_ = *l;
        port = reactor_.local_address(*l)->port();
    }
    ~stub_tracker() { reactor_.close_listener(listener_); }
    stub_tracker(const stub_tracker&) = delete;
    stub_tracker& operator=(const stub_tracker&) = delete;

    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port) + "/announce";
    }

    std::string reply;
    bool silent = false;
    std::vector<std::string> targets;
    std::uint16_t port = 0;

private:
    io::reactor& reactor_;
    io::listener_id listener_{};
};

std::string http_ok(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// d8:intervali1e5:peers12:<127.0.0.1:6881><10.0.0.2:80>e
std::string two_peers_body() {
    std::string peers = {'\x7f', '\x00', '\x00', '\x01', '\x1a', '\xe1',
                         '\x0a', '\x00', '\x00', '\x02', '\x00', '\x50'};
    return "d8:intervali1e5:peers12:" + peers + "e";
}

/// A port with nothing listening (bound, then closed).
std::uint16_t dead_port(io::reactor& r) {
    auto l = r.listen(io::address::loopback_v4(0), {}, [](io::connection, const io::address&) {});
    const auto port = r.local_address(*l)->port();
    r.close_listener(*l);
    return port;
}

class TrackerClient : public SwarmTest {
protected:
    std::unique_ptr<tracker_client> make(std::vector<std::vector<std::string>> tiers,
                                         tracker_options o = fast_options()) {
        wire::peer_id id;
        id.bytes.fill('p');
        info_hash h;
        h.bytes.fill(0x11);
        auto c = tracker_client::create(
            *reactor_, std::move(tiers), h, id, 6999, o,
            [] {
                return announce_progress{10, 20, 30};
            },
            [this](const std::vector<io::address>& p) {
                for (const auto& a : p) peers.push_back(a.to_string());
            });
        EXPECT_TRUE(c) << c.error().message();
        return std::move(*c);
    }
    static tracker_options fast_options() {
        tracker_options o = loopback_options().tracker;
        o.numwant = 7;
        o.http_timeout = std::chrono::milliseconds(300);
        o.retry_min = std::chrono::seconds(60);  // one round per test unless it says otherwise
        return o;
    }
    std::vector<std::string> peers;
};

TEST_P(TrackerClient, AnnouncesStartedAndHandsOverCompactPeers) {
    stub_tracker t(*reactor_);
    // Chunked answer split in the middle of the bencoded body.
    const std::string body = two_peers_body();
    t.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt::format("{:x}", 10) +
              "\r\n" + body.substr(0, 10) + "\r\n" + fmt::format("{:x}", body.size() - 10) +
              "\r\n" + body.substr(10) + "\r\n0\r\n\r\n";
    auto c = make({{t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)));
    EXPECT_EQ(peers, (std::vector<std::string>{"127.0.0.1:6881", "10.0.0.2:80"}));
    ASSERT_EQ(t.targets.size(), 1U);
    const std::string& q = t.targets[0];
    EXPECT_TRUE(q.starts_with("/announce?")) << q;
    for (const char* part : {"event=started", "numwant=7", "port=6999", "uploaded=10",
                             "downloaded=20", "left=30", "compact=1"}) {
        EXPECT_NE(q.find(part), std::string::npos) << part << " in " << q;
    }
    EXPECT_NE(q.find("info_hash=%11%11%11"), std::string::npos) << q;
}

TEST_P(TrackerClient, FailsOverWithinATierAndPromotesTheUrlThatAnswered) {
    stub_tracker t(*reactor_);
    t.reply = http_ok(two_peers_body());  // interval 1 s
    const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port(*reactor_)) +
                             "/announce";
    auto c = make({{dead, t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 2; }, std::chrono::seconds(5)));
    // BEP 12: the second announce went straight to the URL that answered the first.
    EXPECT_EQ(c->failures(), 1U);
    ASSERT_EQ(t.targets.size(), 2U);
    EXPECT_NE(t.targets[0].find("event=started"), std::string::npos);
    EXPECT_EQ(t.targets[1].find("event="), std::string::npos) << t.targets[1];
}

TEST_P(TrackerClient, FallsBackToTheNextTier) {
    stub_tracker t(*reactor_);
    t.reply = http_ok(two_peers_body());
    const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port(*reactor_)) +
                             "/announce";
    auto c = make({{dead}, {t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)));
    EXPECT_EQ(c->failures(), 1U);
    EXPECT_EQ(peers.size(), 2U);
}

TEST_P(TrackerClient, ReportsTheTrackersFailureReason) {
    stub_tracker t(*reactor_);
    t.reply = http_ok("d14:failure reason11:not allowede");
    auto c = make({{t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() == 1; }, std::chrono::seconds(5)));
    EXPECT_EQ(c->successes(), 0U);
    EXPECT_NE(c->last_error().find("not allowed"), std::string::npos) << c->last_error();
    EXPECT_FALSE(c->last_success());
}

TEST_P(TrackerClient, SilentTrackerTimesOut) {
    stub_tracker t(*reactor_);
    t.silent = true;
    auto c = make({{t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() == 1; }, std::chrono::seconds(5)));
    EXPECT_NE(c->last_error().find("HTTP announce timed out"), std::string::npos)
        << c->last_error();
}

TEST_P(TrackerClient, OversizedAnswerIsRefused) {
    stub_tracker t(*reactor_);
    t.reply = http_ok("d8:intervali1e5:peers6000:" + std::string(6000, 'x') + "e");
    auto o = fast_options();
    o.max_response_bytes = 1000;
    auto c = make({{t.url()}}, o);
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() == 1; }, std::chrono::seconds(5)));
    EXPECT_NE(c->last_error().find("too large"), std::string::npos) << c->last_error();
    EXPECT_TRUE(peers.empty());
}

TEST_P(TrackerClient, ReportsAnHttpErrorStatus) {
    stub_tracker t(*reactor_);
    t.reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
    auto c = make({{t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() == 1; }, std::chrono::seconds(5)));
    EXPECT_NE(c->last_error().find("HTTP status 404"), std::string::npos) << c->last_error();
}

TEST_P(TrackerClient, FollowsARedirectToTheTracker) {
    stub_tracker t(*reactor_);
    t.reply = http_ok(two_peers_body());
    stub_tracker moved(*reactor_);
    moved.reply = "HTTP/1.1 302 Found\r\nLocation: " + t.url() + "?from=old\r\n" +
                  "Content-Length: 0\r\n\r\n";
    auto c = make({{moved.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)))
        << c->last_error();
    EXPECT_EQ(peers.size(), 2U);
    ASSERT_EQ(t.targets.size(), 1U);
    EXPECT_EQ(t.targets[0], "/announce?from=old");
}

TEST_P(TrackerClient, ResolvesAHostNameWithoutBlocking) {
    stub_tracker t(*reactor_);
    t.reply = http_ok(two_peers_body());
    auto c = make({{"http://localhost:" + std::to_string(t.port) + "/announce"}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)))
        << c->last_error();
    EXPECT_EQ(peers.size(), 2U);
}

TEST_P(TrackerClient, ReportsEachChangeOfATrackersHealthOnce) {
    std::vector<tracker_status> changes;
    auto o = fast_options();
    o.retry_min = std::chrono::milliseconds(50);
    o.retry_max = std::chrono::milliseconds(50);
    o.on_status = [&](const tracker_status& s) { changes.push_back(s); };
    const std::string dead = "http://127.0.0.1:" + std::to_string(dead_port(*reactor_)) +
                             "/announce";
    auto c = make({{dead}}, o);
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() >= 4; }, std::chrono::seconds(5)));
    ASSERT_EQ(changes.size(), 1U);  // four failures, one report
    EXPECT_EQ(changes[0].url, dead);
    EXPECT_EQ(changes[0].health, tracker_health::failing);
    EXPECT_NE(changes[0].reason.find("Connection refused"), std::string::npos) << changes[0].reason;
}

TEST_P(TrackerClient, ReportsASilentUdpTrackerBeforeItsRetriesEnd) {
    std::vector<tracker_status> changes;
    auto o = fast_options();
    o.udp_timeout = std::chrono::seconds(5);
    o.slow_notice = std::chrono::milliseconds(100);
    o.on_status = [&](const tracker_status& s) { changes.push_back(s); };
    auto u = reactor_->bind_udp(io::address::loopback_v4(0), io::reuse_port::no,
                                [](std::span<const std::byte>, const io::address&) {});
    ASSERT_TRUE(u);
    const std::string url = "udp://127.0.0.1:" +
                            std::to_string(reactor_->local_address(*u)->port()) + "/announce";
    auto c = make({{url}}, o);
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return !changes.empty(); }, std::chrono::seconds(2)));
    EXPECT_EQ(changes[0].url, url);
    EXPECT_EQ(changes[0].health, tracker_health::silent);
    EXPECT_EQ(c->failures(), 0U);  // still trying
    reactor_->close_udp(*u);
}

TEST_P(TrackerClient, StopSendsStoppedToTheTrackerThatAnswered) {
    stub_tracker t(*reactor_);
    t.reply = http_ok("d8:intervali1800e5:peers0:e");
    auto c = make({{t.url()}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)));
    bool done = false;
    c->stop([&] { done = true; });
    ASSERT_TRUE(spin(
        *reactor_, [&] { return done; }, std::chrono::seconds(5)));
    ASSERT_EQ(t.targets.size(), 2U);
    EXPECT_NE(t.targets[1].find("event=stopped"), std::string::npos) << t.targets[1];
}

TEST_P(TrackerClient, CompletedIsAnnouncedAfterTheAnnounceInFlight) {
    stub_tracker t(*reactor_);
    t.reply = http_ok("d8:intervali1800e5:peers0:e");
    auto c = make({{t.url()}});
    c->start();
    c->completed();  // while `started` is still in flight
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 2; }, std::chrono::seconds(5)));
    ASSERT_EQ(t.targets.size(), 2U);
    EXPECT_NE(t.targets[0].find("event=started"), std::string::npos);
    EXPECT_NE(t.targets[1].find("event=completed"), std::string::npos);
}

/// A BEP 15 tracker stub that "restarts" after its first connect: the connection id it issued
/// then is no longer valid, and an announce carrying it is dropped without an answer (as
/// minibit-tracker does). Records the action of each packet and the id of each announce.
class restarting_udp_tracker {
public:
    explicit restarting_udp_tracker(io::reactor& r,
                                    const io::address& at = io::address::loopback_v4(0))
        : reactor_(r) {
        auto u = r.bind_udp(
            at, io::reuse_port::no,
            [this](std::span<const std::byte> b, const io::address& from) { on_packet(b, from); });
        EXPECT_TRUE(u);
        socket_ = *u;
        port = reactor_.local_address(*u)->port();
    }
    ~restarting_udp_tracker() { reactor_.close_udp(socket_); }
    restarting_udp_tracker(const restarting_udp_tracker&) = delete;
    restarting_udp_tracker& operator=(const restarting_udp_tracker&) = delete;

    std::vector<std::string> packets;  ///< "connect" or "announce <connection id>"
    std::uint16_t port = 0;

private:
    void on_packet(std::span<const std::byte> b, const io::address& from) {
        const auto req = wire::parse_udp_request(
            {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()});
        ASSERT_TRUE(req);
        std::vector<std::uint8_t> out;
        if (const auto* c = std::get_if<wire::udp_connect_request>(&*req)) {
            packets.emplace_back("connect");
            ++issued_;  // the first id (1) is from before the restart
            wire::encode_udp(
                wire::udp_response{wire::udp_connect_response{c->transaction_id, issued_}}, out);
        } else if (const auto* a = std::get_if<wire::udp_announce_request>(&*req)) {
            packets.push_back("announce " + std::to_string(a->connection_id));
            if (a->connection_id == 1) return;  // issued before the restart: no answer at all
            wire::udp_announce_response ok;
            ok.transaction_id = a->transaction_id;
            ok.interval = 1800;
            ok.peers = {10, 0, 0, 7, 0x1a, 0xe1};
            wire::encode_udp(wire::udp_response{ok}, out);
        }
        (void)reactor_.send_to(socket_, std::as_bytes(std::span(out)), from);
    }

    io::reactor& reactor_;
    io::udp_id socket_{};
    std::uint64_t issued_ = 0;
};

// Issue 6: after a tracker restart the cached connection id is unknown to the tracker, which
// answers nothing; the client must connect again rather than resend the dead id until it gives up.
TEST_P(TrackerClient, UnansweredUdpAnnounceConnectsAgainWithAFreshId) {
    restarting_udp_tracker t(*reactor_);
    auto c = make({{"udp://127.0.0.1:" + std::to_string(t.port) + "/announce"}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)))
        << c->last_error();
    EXPECT_EQ(t.packets,
              (std::vector<std::string>{"connect", "announce 1", "connect", "announce 2"}));
    EXPECT_EQ(c->failures(), 0U);
    EXPECT_EQ(peers, (std::vector<std::string>{"10.0.0.7:6881"}));
}

/// The first address the system's resolver gives for "localhost" (127.0.0.1 or ::1), port 0.
io::address first_localhost_address() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo("localhost", nullptr, &hints, &found) != 0 || found == nullptr) {
        return io::address::loopback_v4(0);
    }
    const auto a = io::address::from_sockaddr(found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    return a.with_port(0);
}

// A UDP tracker named by host name is resolved off the reactor thread, then spoken to as usual.
TEST_P(TrackerClient, ResolvesAUdpTrackersHostName) {
    restarting_udp_tracker t(*reactor_, first_localhost_address());
    auto c = make({{"udp://localhost:" + std::to_string(t.port) + "/announce"}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->successes() == 1; }, std::chrono::seconds(5)))
        << c->last_error();
    EXPECT_EQ(peers, (std::vector<std::string>{"10.0.0.7:6881"}));
}

// A name that does not resolve fails the announce with the resolver's reason, and the client
// goes on (the lookup ran on its own thread; the reactor kept turning).
TEST_P(TrackerClient, ReportsAUdpTrackerNameThatDoesNotResolve) {
    auto c = make({{"udp://no-such-host.invalid:6969/announce"}});
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return c->failures() == 1; }, std::chrono::seconds(30)));
    EXPECT_NE(c->last_error().find("cannot resolve no-such-host.invalid"), std::string::npos)
        << c->last_error();
    EXPECT_EQ(c->successes(), 0U);
}

INSTANTIATE_TEST_SUITE_P(Backends, TrackerClient,
                         ::testing::Values(io::backend_kind::epoll, io::backend_kind::uring),
                         backend_name);

}  // namespace
}  // namespace minibit::swarm::testing
