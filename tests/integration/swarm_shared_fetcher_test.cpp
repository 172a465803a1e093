// Issue 15: every tracker and scrape client on one reactor shares one HTTP fetcher (one libcurl
// multi handle, its socket table and wake-up socket pair) instead of one each. Against a real
// in-process minibit tracker: several clients announce and scrape, and the process's descriptors
// grow by one fetcher, not one per client, and fall back when the last client is gone. Against
// a tracker written in the test that holds its answers: a client destroyed mid-announce ends its
// own transfer only, and a short timeout of one client does not cut another's. Both io back ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "minibit/swarm/tracker_client.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "minibit/tracker/server.hpp"
#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

/// Descriptors open in this process.
std::size_t open_descriptors() {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        (void)e;
        ++n;
    }
    return n;
}

/// An in-process tracker (HTTP only) on its own reactor thread.
std::unique_ptr<tracker::tracker_server> start_tracker(io::backend_kind kind) {
    tracker::server_config c;
    c.http = io::address::loopback_v4(0);
    c.threads = 1;
    c.backend = kind;
    auto s = tracker::tracker_server::start(c, nullptr);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
}

/// An HTTP tracker that keeps every announce waiting until release(): records which peer
/// (the first byte of its peer_id) asked on which connection and which connections closed.
class holding_tracker {
public:
    explicit holding_tracker(io::reactor& r) : reactor_(r) {
        auto l = r.listen(io::address::loopback_v4(0), {},
                          [this](io::connection c, const io::address&) { accept(c.id()); });
        EXPECT_TRUE(l);
        listener_ = *l;
        port = reactor_.local_address(*l)->port();
    }
    ~holding_tracker() {
        for (const auto& [peer, id] : waiting) reactor_.close(id);
        reactor_.close_listener(listener_);
    }
    holding_tracker(const holding_tracker&) = delete;
    holding_tracker& operator=(const holding_tracker&) = delete;

    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port) + "/announce";
    }
    /// Answers every announce waiting (a 1800 s interval and one peer).
    void release() {
        const std::string peers = {'\x0a', '\x00', '\x00', '\x09', '\x1a', '\xe1'};
        const std::string body = "d8:intervali1800e5:peers6:" + peers + "e";
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body;
        for (const auto& [peer, id] : waiting) {
            std::vector<std::byte> out(reply.size());
            std::memcpy(out.data(), reply.data(), reply.size());
            (void)reactor_.send(id, std::move(out));
            reactor_.close(id, io::close_mode::after_flush);
        }
        waiting.clear();
    }

    std::map<char, io::conn_id> waiting;  ///< announces held, by peer
    std::set<char> closed;                ///< peers whose connection closed while held
    std::uint16_t port = 0;

private:
    void accept(io::conn_id id) {
        auto buf = std::make_shared<std::string>();
        io::conn_handlers h{scope_.guard([this, buf, id](std::span<const std::byte> b) {
                                buf->append(reinterpret_cast<const char*>(b.data()), b.size());
                                if (buf->find("\r\n\r\n") == std::string::npos) return;
                                const auto at = buf->find("peer_id=");
                                if (at != std::string::npos) waiting[(*buf)[at + 8]] = id;
                            }),
                            scope_.guard([this, id](const std::optional<error>&) {
                                for (auto it = waiting.begin(); it != waiting.end(); ++it) {
                                    if (it->second == id) {
                                        closed.insert(it->first);
                                        waiting.erase(it);
                                        return;
                                    }
                                }
                            })};
        EXPECT_TRUE(reactor_.start(id, std::move(h)));
    }

    io::reactor& reactor_;
    io::listener_id listener_{};
    io::scope scope_{reactor_};  ///< last member: its callbacks go quiet before the rest dies
};

class SharedFetcher : public SwarmTest {
protected:
    /// A client announcing `hash` as peer `name` (every byte of its peer id) to `url`.
    std::unique_ptr<tracker_client> make(const std::string& url, char name, std::uint8_t hash,
                                         tracker_options o = fast_options()) {
        wire::peer_id id;
        id.bytes.fill(static_cast<std::uint8_t>(name));
        info_hash h;
        h.bytes.fill(hash);
        auto c = tracker_client::create(
            *reactor_, {{url}}, h, id, static_cast<std::uint16_t>(7000 + name), std::move(o),
            [] {
                return announce_progress{0, 0, 100};
            },
            [this, name](const std::vector<io::address>& p) { peers[name] += p.size(); });
        EXPECT_TRUE(c) << c.error().message();
        return std::move(*c);
    }
    static tracker_options fast_options() {
        tracker_options o = loopback_options().tracker;
        o.http_timeout = std::chrono::seconds(5);
        o.retry_min = std::chrono::seconds(60);  // one round per test
        return o;
    }
    std::map<char, std::size_t> peers;  ///< peers handed to each client, by its name
};

TEST_P(SharedFetcher, ClientsOnOneReactorShareOneFetcherThatEndsWithTheLast) {
    auto tracker = start_tracker(GetParam());
    ASSERT_TRUE(tracker);
    const std::string url = "http://" + tracker->http_address()->to_string() + "/announce";
    const std::size_t before = open_descriptors();
    std::vector<std::unique_ptr<tracker_client>> clients;
    // One after the other, so the tracker's kept-alive connection is reused: one fetcher
    // holds 4 descriptors (its wake-up pair, both ends of the connection); a fetcher per
    // client held 4 per client, 24 for six.
    for (char name = 'a'; name < 'g'; ++name) {
        clients.push_back(make(url, name, 0x42));
        clients.back()->start();
        ASSERT_TRUE(spin(
            *reactor_, [&] { return clients.back()->successes() == 1; }, std::chrono::seconds(5)))
            << clients.back()->last_error();
    }
    EXPECT_EQ(peers['f'], 5U);  // the five before it
    auto scraper = scrape_client::create(*reactor_, {});
    ASSERT_TRUE(scraper);
    std::optional<result<scrape_counts>> counts;
    info_hash hash;
    hash.bytes.fill(0x42);
    (*scraper)->scrape(url, hash, [&](result<scrape_counts> r) { counts = std::move(r); });
    ASSERT_TRUE(spin(
        *reactor_, [&] { return counts.has_value(); }, std::chrono::seconds(5)));
    ASSERT_TRUE(*counts) << counts->error().message();
    EXPECT_EQ((*counts)->leechers, 6U);
    EXPECT_LE(open_descriptors(), before + 6) << "a fetcher per client?";

    // The fetcher ends with its last user: its descriptors close (the tracker closes its end
    // once it sees ours go).
    clients.erase(clients.begin(), clients.begin() + 3);
    EXPECT_GE(open_descriptors(), before + 2);  // still alive for the others
    clients.clear();
    scraper->reset();
    EXPECT_TRUE(spin(
        *reactor_, [&] { return open_descriptors() <= before; }, std::chrono::seconds(5)))
        << open_descriptors() << " descriptors, " << before << " before";
}

TEST_P(SharedFetcher, ClientDestroyedMidAnnounceEndsOnlyItsOwnTransfer) {
    holding_tracker t(*reactor_);
    auto a = make(t.url(), 'a', 1);
    auto b = make(t.url(), 'b', 2);
    auto c = make(t.url(), 'c', 3);
    a->start();
    b->start();
    c->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return t.waiting.size() == 3; }, std::chrono::seconds(5)));
    a.reset();
    // Its transfer is cancelled at once (the tracker sees the connection close), the others
    // stay open.
    ASSERT_TRUE(spin(
        *reactor_, [&] { return t.closed.contains('a'); }, std::chrono::seconds(5)));
    for (int i = 0; i < 20; ++i) (void)reactor_->run_once(std::chrono::milliseconds(1));
    EXPECT_EQ(t.closed, std::set<char>{'a'});
    EXPECT_EQ(t.waiting.size(), 2U);
    t.release();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return b->successes() == 1 && c->successes() == 1; },
        std::chrono::seconds(5)))
        << b->last_error() << " / " << c->last_error();
    EXPECT_EQ(peers['b'], 1U);
    EXPECT_EQ(peers['c'], 1U);
    EXPECT_FALSE(peers.contains('a'));
}

TEST_P(SharedFetcher, EachClientKeepsItsOwnTimeout) {
    holding_tracker t(*reactor_);
    auto impatient = fast_options();
    impatient.http_timeout = std::chrono::milliseconds(200);
    auto a = make(t.url(), 'a', 1, impatient);
    auto b = make(t.url(), 'b', 2);
    a->start();
    b->start();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return a->failures() == 1; }, std::chrono::seconds(5)));
    EXPECT_NE(a->last_error().find("timed out after 200 ms"), std::string::npos) << a->last_error();
    EXPECT_EQ(b->failures(), 0U);
    ASSERT_TRUE(spin(
        *reactor_, [&] { return t.waiting.contains('b'); }, std::chrono::seconds(5)));
    t.release();
    ASSERT_TRUE(spin(
        *reactor_, [&] { return b->successes() == 1; }, std::chrono::seconds(5)))
        << b->last_error();
}

INSTANTIATE_TEST_SUITE_P(Backends, SharedFetcher,
                         ::testing::Values(io::backend_kind::epoll, io::backend_kind::uring),
                         backend_name);

}  // namespace
}  // namespace minibit::swarm::testing
