// udp:// scrapes (BEP 15, action 2) by swarm::scrape_client: against a real minibit-tracker
// process (its UDP port counts the seeders and leechers the test announced), and against a
// hostile UDP socket in the test that answers with another transaction id, short packets, the
// wrong action, an empty scrape or an error (action 3). Both io back ends.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

using namespace std::chrono_literals;

/// Announces one peer (`id` filled with `tag`, listening on `port`, `left` bytes to go) to the
/// UDP tracker on 127.0.0.1:`tracker` with a blocking socket; true when it answered.
bool announce_udp(std::uint16_t tracker, const info_hash& hash, std::uint8_t tag,
                  std::uint16_t port, std::uint64_t left) {
    faults::fd_guard fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const timeval wait{2, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    const sockaddr_in to = faults::loopback(tracker);
    auto exchange = [&](const wire::udp_request& req) -> std::optional<wire::udp_response> {
        std::vector<std::uint8_t> out;
        wire::encode_udp(req, out);
        ::sendto(fd.get(), out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
        std::vector<std::uint8_t> in(2048);
        const auto n = ::recv(fd.get(), in.data(), in.size(), 0);
        if (n <= 0) return std::nullopt;
        in.resize(static_cast<std::size_t>(n));
        auto r = wire::parse_udp_response(in, wire::udp_peer_family::ipv4);
        return r ? std::optional(*r) : std::nullopt;
    };
    const auto c = exchange(wire::udp_connect_request{7});
    if (!c || !std::holds_alternative<wire::udp_connect_response>(*c)) return false;
    wire::udp_announce_request a;
    a.connection_id = std::get<wire::udp_connect_response>(*c).connection_id;
    a.transaction_id = 8;
    a.hash = hash;
    a.peer_id.fill(tag);
    a.left = left;
    a.event = wire::announce_event::started;
    a.port = port;
    const auto r = exchange(a);
    return r && std::holds_alternative<wire::udp_announce_response>(*r);
}

class UdpScrape : public SwarmTest {
protected:
    std::unique_ptr<scrape_client> make(std::chrono::milliseconds udp_timeout = 200ms,
                                        std::uint32_t attempts = 3) {
        scrape_options o;
        o.udp_timeout = udp_timeout;
        o.udp_attempts = attempts;
        auto c = scrape_client::create(*reactor_, o);
        EXPECT_TRUE(c) << c.error().message();
        return std::move(*c);
    }
    /// Scrapes `hash` at `url` and spins until the answer (at most `limit`).
    std::optional<result<scrape_counts>> scrape(scrape_client& c, const std::string& url,
                                                const info_hash& hash,
                                                std::chrono::milliseconds limit = 10s) {
        std::optional<result<scrape_counts>> got;
        c.scrape(url, hash, [&](result<scrape_counts> r) { got = std::move(r); });
        spin(
            *reactor_, [&] { return got.has_value(); }, limit);
        return got;
    }
    static info_hash hash_of(std::uint8_t b) {
        info_hash h;
        h.bytes.fill(b);
        return h;
    }
};

TEST_P(UdpScrape, CountsTheSeedersAndLeechersARealTrackerHolds) {
    if (faults::program("MINIBIT_TRACKER").empty()) {
        MINIBIT_SKIP_OR_FAIL("MINIBIT_TRACKER is not set");
    }
    faults::temp_dir dir;
    faults::tracker_process tracker(faults::free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready());
    const info_hash hash = hash_of(0x5c);
    ASSERT_TRUE(announce_udp(tracker.port, hash, 'a', 7001, 0));
    ASSERT_TRUE(announce_udp(tracker.port, hash, 'b', 7002, 0));
    ASSERT_TRUE(announce_udp(tracker.port, hash, 'c', 7003, 1000));
    const std::string url = "udp://127.0.0.1:" + std::to_string(tracker.port) + "/announce";

    auto c = make();
    const auto first = scrape(*c, url, hash);
    ASSERT_TRUE(first.has_value());
    ASSERT_TRUE(first->has_value()) << first->error().message();
    EXPECT_EQ((*first)->seeders, 2U);
    EXPECT_EQ((*first)->leechers, 1U);
    // A torrent the tracker does not know scrapes as zeros; the connection id is reused.
    const auto other = scrape(*c, url, hash_of(0x77));
    ASSERT_TRUE(other.has_value() && other->has_value());
    EXPECT_EQ((*other)->seeders, 0U);
    // A third seeder shows in the next scrape.
    ASSERT_TRUE(announce_udp(tracker.port, hash, 'd', 7004, 0));
    const auto again = scrape(*c, url, hash);
    ASSERT_TRUE(again.has_value() && again->has_value());
    EXPECT_EQ((*again)->seeders, 3U);
}

/// A UDP "tracker" in the test: `answer` maps each request it receives to the packets it sends
/// back (in order).
class hostile_tracker {
public:
    using answer_fn =
        std::function<std::vector<std::vector<std::uint8_t>>(const wire::udp_request&)>;
    hostile_tracker(io::reactor& r, answer_fn answer) : reactor_(r), answer_(std::move(answer)) {
        auto u = r.bind_udp(
            io::address::loopback_v4(0), io::reuse_port::no,
            [this](std::span<const std::byte> b, const io::address& from) { on_packet(b, from); });
        EXPECT_TRUE(u);
        socket_ = *u;
        port = r.local_address(socket_)->port();
    }
    ~hostile_tracker() { reactor_.close_udp(socket_); }
    hostile_tracker(const hostile_tracker&) = delete;
    hostile_tracker& operator=(const hostile_tracker&) = delete;

    [[nodiscard]] std::string url() const { return "udp://127.0.0.1:" + std::to_string(port); }

    std::uint16_t port = 0;
    int requests = 0;

private:
    void on_packet(std::span<const std::byte> b, const io::address& from) {
        const auto req = wire::parse_udp_request(
            {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()});
        ASSERT_TRUE(req) << req.error().message();
        ++requests;
        for (const auto& p : answer_(*req)) {
            (void)reactor_.send_to(socket_, std::as_bytes(std::span(p)), from);
        }
    }
    io::reactor& reactor_;
    answer_fn answer_;
    io::udp_id socket_{};
};

using packets = std::vector<std::vector<std::uint8_t>>;

std::uint32_t transaction_of(const wire::udp_request& r) {
    return std::visit([](const auto& x) { return x.transaction_id; }, r);
}

std::vector<std::uint8_t> encoded(const wire::udp_response& r) {
    std::vector<std::uint8_t> out;
    wire::encode_udp(r, out);
    return out;
}

/// A scrape answer with one torrent holding `seeders`.
std::vector<std::uint8_t> scrape_answer(std::uint32_t transaction, std::uint32_t seeders) {
    wire::udp_scrape_response s;
    s.transaction_id = transaction;
    s.entries.push_back({seeders, 4, 1});
    return encoded(s);
}

TEST_P(UdpScrape, TakesOnlyTheAnswerWithItsTransactionIdFromTheTracker) {
    hostile_tracker t(*reactor_, [](const wire::udp_request& req) {
        const std::uint32_t tx = transaction_of(req);
        if (std::holds_alternative<wire::udp_connect_request>(req)) {
            return packets{encoded(wire::udp_connect_response{tx + 1, 99}),  // not ours
                           std::vector<std::uint8_t>{0, 0, 0, 0, 1, 2, 3},   // short
                           encoded(wire::udp_connect_response{tx, 42})};
        }
        EXPECT_EQ(std::get<wire::udp_scrape_request>(req).connection_id, 42U);
        return packets{scrape_answer(tx ^ 0x5aU, 99),                // another transaction's count
                       encoded(wire::udp_connect_response{tx, 43}),  // wrong action
                       scrape_answer(tx, 3)};
    });
    auto c = make();
    const auto got = scrape(*c, t.url(), hash_of(1));
    ASSERT_TRUE(got.has_value() && got->has_value())
        << (got ? got->error().message() : "no answer");
    EXPECT_EQ((*got)->seeders, 3U);
    EXPECT_EQ((*got)->leechers, 1U);
    EXPECT_EQ((*got)->downloaded, 4U);
    EXPECT_EQ(t.requests, 2);  // one connect, one scrape: nothing was retried
}

TEST_P(UdpScrape, GivesUpWithinItsRetriesWhenEveryReplyIsRefusedAndSaysWhy) {
    struct refusal {
        const char* name;
        std::function<std::vector<std::uint8_t>(std::uint32_t)> reply;
        const char* reason;
    };
    const std::vector<refusal> cases = {
        {"short",
         [](std::uint32_t) {
             return std::vector<std::uint8_t>{0, 0, 0, 0, 9};
         },
         "shorter than 8 bytes"},
        {"other transaction",
         [](std::uint32_t tx) {
             return encoded(wire::udp_connect_response{tx + 1, 5});
         },
         "transaction id"},
        {"announce action",
         [](std::uint32_t tx) {
             return encoded(wire::udp_announce_response{tx, 60, 0, 0, {}});
         },
         "another action"},
    };
    for (const auto& rc : cases) {
        SCOPED_TRACE(rc.name);
        hostile_tracker t(*reactor_, [&](const wire::udp_request& req) {
            return packets{rc.reply(transaction_of(req))};
        });
        auto c = make(100ms, 3);
        const auto start = std::chrono::steady_clock::now();
        const auto got = scrape(*c, t.url(), hash_of(2));
        ASSERT_TRUE(got.has_value());
        ASSERT_FALSE(got->has_value());
        const std::string why = got->error().message();
        EXPECT_NE(why.find("did not answer"), std::string::npos) << why;
        EXPECT_NE(why.find(rc.reason), std::string::npos) << why;
        EXPECT_EQ(t.requests, 3);  // 100 + 200 + 400 ms of waits, then it gave up
        EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    }
}

TEST_P(UdpScrape, AScrapeAnswerNotListingOneTorrentIsRefused) {
    hostile_tracker t(*reactor_, [](const wire::udp_request& req) {
        const std::uint32_t tx = transaction_of(req);
        if (std::holds_alternative<wire::udp_connect_request>(req)) {
            return packets{encoded(wire::udp_connect_response{tx, 42})};
        }
        return packets{encoded(wire::udp_scrape_response{tx, {}})};
    });
    auto c = make(100ms, 2);
    const auto got = scrape(*c, t.url(), hash_of(3));
    ASSERT_TRUE(got.has_value() && !got->has_value());
    EXPECT_NE(got->error().message().find("lists 0 torrents"), std::string::npos)
        << got->error().message();
}

TEST_P(UdpScrape, ReportsTheTrackersErrorMessage) {
    hostile_tracker t(*reactor_, [](const wire::udp_request& req) {
        const std::uint32_t tx = transaction_of(req);
        if (std::holds_alternative<wire::udp_connect_request>(req)) {
            return packets{encoded(wire::udp_connect_response{tx, 42})};
        }
        return packets{encoded(wire::udp_error_response{tx, "scrapes are off here"})};
    });
    auto c = make();
    const auto got = scrape(*c, t.url(), hash_of(4));
    ASSERT_TRUE(got.has_value() && !got->has_value());
    EXPECT_NE(got->error().message().find("scrapes are off here"), std::string::npos)
        << got->error().message();
    EXPECT_EQ(t.requests, 2);
}

TEST_P(UdpScrape, ReportsATrackerNameThatDoesNotResolve) {
    auto c = make();
    const auto got = scrape(*c, "udp://no-such-host.invalid:6969/announce", hash_of(5), 30s);
    ASSERT_TRUE(got.has_value() && !got->has_value());
    EXPECT_NE(got->error().message().find("cannot resolve no-such-host.invalid"), std::string::npos)
        << got->error().message();
}

INSTANTIATE_TEST_SUITE_P(Backends, UdpScrape,
                         ::testing::Values(io::backend_kind::epoll, io::backend_kind::uring),
                         backend_name);

}  // namespace
}  // namespace minibit::swarm::testing
