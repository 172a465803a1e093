
// minibit-loadgen announce end to end: the real program (MINIBIT_LOADGEN) drives a bounded load
// at an in-process minibit tracker over HTTP (keep-alive and one connection per announce) and
// UDP; the tests read its JSON report and the tracker's /stats.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eintr.hpp"
#include "minibit/loadgen/announce_report.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/tracker/server.hpp"

namespace {

using namespace minibit;
using json = nlohmann::json;

struct run_result {
    int exit_code = -1;
    std::string out;
};

/// Runs minibit-loadgen with `args`, capturing stdout (bounded by the program's own limits).
run_result run_loadgen(const std::string& args) {
    const char* bin = std::getenv("MINIBIT_LOADGEN");
    run_result r;
    if (bin == nullptr) return r;
    const std::string cmd = std::string("timeout 60 ") + bin + " " + args;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0 && r.out.size() < (1U << 20U))
        r.out.append(buf, n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

/// GET target over a fresh connection with Connection: close; returns the body ("" on error).
std::string http_get(const io::address& to, const std::string& target) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(to.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string in;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) {
        const std::string req = "GET " + target +
                                " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        test_io::send_retry(fd, req.data(), req.size(), MSG_NOSIGNAL);
        char buf[4096];
        for (int i = 0; i < 1000; ++i) {
            const ssize_t n = test_io::recv_retry(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    const auto body = in.find("\r\n\r\n");
    return body == std::string::npos ? std::string() : in.substr(body + 4);
}

/// The document in `text`, or a discarded value when it is not JSON.
json parse(const std::string& text) {
    return json::parse(text, nullptr, false);
}

/// The number at a dotted path ("errors.total"), or -1.
double num(const json& v, std::string_view path) {
    std::string pointer = "/" + std::string(path);
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const json::json_pointer at(pointer);
    return v.is_object() && v.contains(at) && v.at(at).is_number() ? v.at(at).get<double>() : -1.0;
}

class LoadgenAnnounce : public testing::Test {
protected:
    void SetUp() override {
        if (std::getenv("MINIBIT_LOADGEN") == nullptr) GTEST_SKIP() << "MINIBIT_LOADGEN unset";
        start(nullptr);
    }
    void start(std::shared_ptr<const tracker::info_hash_filter> filter) {
        server_.reset();
        tracker::server_config c;
        c.http = io::address::loopback_v4(0);
        c.udp = io::address::loopback_v4(0);
        c.threads = 1;
        auto s = tracker::tracker_server::start(c, std::move(filter));
        ASSERT_TRUE(s) << s.error().message();
        server_ = std::move(*s);
    }
    std::string http_url() const {
        return "http://127.0.0.1:" + std::to_string(server_->http_address()->port()) + "/announce";
    }
    std::string udp_url() const {
        return "udp://127.0.0.1:" + std::to_string(server_->udp_address()->port());
    }
    /// Runs a load and returns its parsed JSON report.
    json load(const std::string& url, const std::string& extra, int expect_exit = 0) {
        const run_result r = run_loadgen("announce --json --tracker " + url + " " + extra);
        EXPECT_EQ(r.exit_code, expect_exit) << r.out;
        auto j = parse(r.out);
        EXPECT_FALSE(j.is_discarded()) << r.out;
        return j;
    }
    json stats() const {
        auto j = parse(http_get(*server_->http_address(), "/stats"));
        EXPECT_FALSE(j.is_discarded());
        return j;
    }
    std::unique_ptr<tracker::tracker_server> server_;
};

const std::string bounded_load = "--count 2000 --peers 300 --torrents 5 --concurrency 16";

void expect_clean_run(const json& r) {
    EXPECT_EQ(num(r, "sent"), 2000);
    EXPECT_EQ(num(r, "announces"), 2000);
    EXPECT_EQ(num(r, "errors.total"), 0);
    EXPECT_EQ(num(r, "events.started"), 300);    // every peer starts first
    EXPECT_EQ(num(r, "events.completed"), 150);  // odd leechers complete at their 5th announce
    EXPECT_EQ(num(r, "events.stopped"), 0);      // no peer reached its 10th announce
    EXPECT_EQ(num(r, "events.none"), 1550);
    EXPECT_GT(num(r, "peers_received"), 0);
    EXPECT_EQ(r.value("ended_by", ""), "count");
}

void expect_tracker_holds(const json& s, double torrents, double peers) {
    EXPECT_EQ(num(s, "torrents"), torrents);
    EXPECT_EQ(num(s, "peers"), peers);
}

TEST_F(LoadgenAnnounce, HttpKeepAliveAnswersEveryAnnounceOnSixteenConnections) {
    const json r = load(http_url(), bounded_load);
    expect_clean_run(r);
    EXPECT_EQ(num(r, "connects"), 16);
    const json s = stats();
    expect_tracker_holds(s, 5, 300);
    EXPECT_EQ(num(s, "requests.http.announce.total"), 2000);
}

TEST_F(LoadgenAnnounce, HttpCloseOpensOneConnectionPerAnnounce) {
    const json r = load(http_url(), bounded_load + " --http-close");
    expect_clean_run(r);
    EXPECT_EQ(num(r, "connects"), 2000);
    expect_tracker_holds(stats(), 5, 300);
}

/// A bounded_load run over `sockets` UDP client sockets: clean, one connect per socket, no
/// retransmission, and the tracker counted every announce and connect.
void expect_udp_run(const json& r, const json& s, double sockets) {
    expect_clean_run(r);
    EXPECT_EQ(num(r, "connects"), sockets);
    EXPECT_EQ(num(r, "retransmits"), 0);
    expect_tracker_holds(s, 5, 300);
    EXPECT_EQ(num(s, "requests.udp.announce.total"), 2000);
    EXPECT_EQ(num(s, "requests.udp.connect.total"), sockets);
}

TEST_F(LoadgenAnnounce, UdpAnswersEveryAnnounceAfterOneConnect) {
    const json r = load(udp_url(), bounded_load);
    expect_udp_run(r, stats(), 1);
}

TEST_F(LoadgenAnnounce, UdpSocketsEachConnectOnceAndShareTheAnnounces) {
    // Four client sockets from one process: four connection ids, every announce answered once.
    const json r = load(udp_url(), bounded_load + " --sockets 4");
    EXPECT_EQ(num(r, "sockets"), 4);
    expect_udp_run(r, stats(), 4);
    // Paced one at a time over the same sockets: all answered, and the send lag is reported.
    const json p = load(udp_url(),
                        "--count 500 --peers 300 --torrents 5 --sockets 3 --rate 2000 "
                        "--arrivals poisson");
    EXPECT_EQ(num(p, "announces"), 500);
    EXPECT_EQ(num(p, "errors.total"), 0);
    EXPECT_EQ(num(p, "connects"), 3);
    EXPECT_GE(num(p, "send_lag_us.p99"), 0);
    EXPECT_GE(num(p, "seconds"), 0.15);
}

TEST_F(LoadgenAnnounce, RateLimitPacesTheAnnouncesOverTime) {
    // 300 announces offered at 1,000/s cannot finish before ~0.3 s, however fast the tracker.
    const json r = load(udp_url(), "--count 300 --peers 300 --torrents 5 --rate 1000");
    EXPECT_EQ(num(r, "announces"), 300);
    EXPECT_EQ(num(r, "rate_limit"), 1000);
    EXPECT_GE(num(r, "seconds"), 0.29);
    const json h = load(http_url(), "--count 200 --peers 300 --torrents 5 --rate 1000");
    EXPECT_EQ(num(h, "announces"), 200);
    EXPECT_GE(num(h, "seconds"), 0.19);
}

TEST_F(LoadgenAnnounce, OneAtATimeArrivalsAnswerEveryAnnounceAtTheOfferedPace) {
    // Poisson and evenly spaced arrivals: every announce of the count is sent and answered, and
    // 300 at 1,000/s still cannot finish in much less than 0.3 s (Poisson: the sum of 300
    // exponential gaps of mean 1 ms is below 0.2 s with a negligible chance; the seed is fixed).
    for (const char* model : {"poisson", "even"}) {
        const json r = load(udp_url(), std::string("--count 300 --peers 300 --torrents 5 --rate "
                                                   "1000 --arrivals ") +
                                           model);
        EXPECT_EQ(num(r, "sent"), 300) << model;
        EXPECT_EQ(num(r, "announces"), 300) << model;
        EXPECT_EQ(num(r, "errors.total"), 0) << model;
        EXPECT_EQ(r.value("ended_by", ""), "count") << model;
        EXPECT_EQ(r["arrivals"], model);
        EXPECT_GE(num(r, "seconds"), 0.19) << model;
    }
}

TEST_F(LoadgenAnnounce, PeersLeaveTheTrackerAfterTheirStoppedAnnounce) {
    // 10 announces per peer: started, 8 periodic, stopped; nobody is left.
    const json r = load(udp_url(), "--count 3000 --peers 300 --torrents 5");
    EXPECT_EQ(num(r, "announces"), 3000);
    EXPECT_EQ(num(r, "events.stopped"), 300);
    EXPECT_EQ(num(stats(), "peers"), 0);
}

TEST_F(LoadgenAnnounce, RefusedHttpConnectionsAreCountedAndExitOne) {
    const std::string url = http_url();
    server_.reset();  // nothing listens on that port any more
    const json r = load(url, "--count 50 --peers 100", 1);
    EXPECT_EQ(num(r, "sent"), 50);
    EXPECT_EQ(num(r, "announces"), 0);
    EXPECT_EQ(num(r, "errors.connection_errors"), 50);
}

TEST_F(LoadgenAnnounce, TorrentsOutsideTheAllowListCountAsFailuresWithTheReason) {
    const auto dir = std::filesystem::temp_directory_path() / "minibit-loadgen-announce-test";
    std::filesystem::create_directories(dir);
    const auto list = dir / "hashes.txt";
    const run_result w = run_loadgen("announce --write-info-hashes " + list.string() +
                                     " --torrents 2");
    ASSERT_EQ(w.exit_code, 0);
    std::ifstream in(list);
    std::string text;
    for (std::string line; std::getline(in, line) && text.size() < 4096;) text += line + "\n";
    EXPECT_EQ(text, loadgen::torrent_hash(0).hex() + "\n" + loadgen::torrent_hash(1).hex() + "\n");
    auto filter = tracker::info_hash_filter::parse(text, tracker::filter_mode::allow_listed);
    ASSERT_TRUE(filter);
    start(std::make_shared<const tracker::info_hash_filter>(*filter));
    // Peers 0..99 over 4 torrents: torrents 2 and 3 (half the announces) are refused.
    const std::vector<std::string> urls{http_url(), udp_url()};
    for (const std::string& url : urls) {
        const json r = load(url, "--count 400 --peers 100 --torrents 4", 1);
        EXPECT_EQ(num(r, "announces"), 200) << url;
        EXPECT_EQ(num(r, "errors.failures"), 200) << url;
        EXPECT_EQ(num(r, "failure_reasons.torrent not allowed"), 200) << url;
    }
    std::filesystem::remove_all(dir);
}

/// An HTTP/1.1 server like Debian's opentracker: answers one request per connection, with no
/// Connection header, then closes. Serves until destroyed; each wait is bounded.
class close_after_answer_server {
public:
    close_after_answer_server() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        ::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
        ::listen(fd_, 64);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    close_after_answer_server(const close_after_answer_server&) = delete;
    close_after_answer_server& operator=(const close_after_answer_server&) = delete;
    ~close_after_answer_server() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] int connections() const { return connections_; }

private:
    void serve() {
        // One compact peer, 127.0.0.1:1234 (embedded NULs: built with an explicit length).
        const std::string body = "d8:completei1e10:incompletei0e8:intervali1800e5:peers6:" +
                                 std::string("\x7f\x00\x00\x01\x04\xd2", 6) + "e";
        const std::string answer =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        for (int turn = 0; turn < 6000 && !stop_; ++turn) {  // 6000 * 10 ms = 60 s at most
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 10) <= 0) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            ++connections_;
            timeval tv{2, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string in;
            char buf[2048];
            while (in.find("\r\n\r\n") == std::string::npos && in.size() < 8192) {
                const ssize_t n = test_io::recv_retry(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
            }
            test_io::send_retry(c, answer.data(), answer.size(), MSG_NOSIGNAL);
            ::close(c);
        }
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread thread_;
};

TEST(LoadgenAnnounceHttp, ResendsOnANewConnectionWhenTheServerClosedAKeptAliveOne) {
    if (std::getenv("MINIBIT_LOADGEN") == nullptr) GTEST_SKIP() << "MINIBIT_LOADGEN unset";
    close_after_answer_server server;
    const run_result r = run_loadgen(
        "announce --json --count 20 --peers 10 --concurrency 1 "
        "--tracker http://127.0.0.1:" +
        std::to_string(server.port()) + "/announce");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const json j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    EXPECT_EQ(num(j, "announces"), 20);
    EXPECT_EQ(num(j, "errors.total"), 0);
    EXPECT_EQ(num(j, "peers_received"), 20);
    // The first announce opens a connection; each later one finds it closed and resends.
    EXPECT_EQ(num(j, "stale_connection_retries"), 19);
    EXPECT_EQ(num(j, "connects"), 20);
}

struct url_case {
    std::string_view url;
    bool ok;
    loadgen::tracker_scheme scheme;
    std::uint16_t port;
    std::string_view path;
};

class LoadgenTrackerUrl : public testing::TestWithParam<url_case> {};

TEST_P(LoadgenTrackerUrl, ParsesSchemePortAndPathOrRefuses) {
    const url_case& c = GetParam();
    const auto r = loadgen::parse_tracker_url(c.url);
    ASSERT_EQ(r.has_value(), c.ok) << c.url;
    if (!c.ok) {
        EXPECT_TRUE(is(r.error(), loadgen::announce_errc::bad_url));
        return;
    }
    EXPECT_EQ(r->scheme, c.scheme);
    EXPECT_EQ(r->port, c.port);
    EXPECT_EQ(r->path, c.path);
    EXPECT_EQ(r->ipv4_be, htonl(INADDR_LOOPBACK));
}

INSTANTIATE_TEST_SUITE_P(
    Table, LoadgenTrackerUrl,
    testing::Values(
        url_case{"http://127.0.0.1:6969/announce", true, loadgen::tracker_scheme::http, 6969,
                 "/announce"},
        url_case{"http://localhost:80/a/b", true, loadgen::tracker_scheme::http, 80, "/a/b"},
        url_case{"http://127.0.0.1:6969", true, loadgen::tracker_scheme::http, 6969, "/announce"},
        url_case{"udp://127.0.0.1:1337", true, loadgen::tracker_scheme::udp, 1337, "/announce"},
        url_case{"udp://127.0.0.1:1337/announce", true, loadgen::tracker_scheme::udp, 1337,
                 "/announce"},
        url_case{"https://127.0.0.1:443/announce", false, {}, 0, ""},
        url_case{"http://127.0.0.1/announce", false, {}, 0, ""},
        url_case{"http://127.0.0.1:0/announce", false, {}, 0, ""},
        url_case{"http://127.0.0.1:65536/announce", false, {}, 0, ""},
        url_case{"http://127.0.0.1:69x/announce", false, {}, 0, ""},
        url_case{"http://tracker.example:6969/announce", false, {}, 0, ""},
        url_case{"http://127.0.0.1:6969/announce?x=1", false, {}, 0, ""}));

TEST(LoadgenLatencyHistogram, QuantilesAreExactBelow1024AndWithinAFifthOfAPercentAbove) {
    loadgen::latency_histogram h;
    EXPECT_EQ(h.quantile(0.5), 0U);
    for (std::uint64_t v = 1; v <= 1000; ++v) h.add(v);
    EXPECT_EQ(h.count(), 1000U);
    EXPECT_EQ(h.quantile(0.5), 501U);  // rank 500 of 1..1000
    EXPECT_EQ(h.quantile(0.99), 991U);
    EXPECT_EQ(h.quantile(1.0), 1000U);
    loadgen::latency_histogram big;
    big.add(123456789);
    EXPECT_EQ(big.max(), 123456789U);
    const std::uint64_t q = big.quantile(0.5);
    EXPECT_LE(q, 123456789U);
    EXPECT_GE(q, 123456789U - 123456789U / 500);
}

TEST(LoadgenWorkload, PeersStartThenAnnounceThenCompleteThenStopInOrder) {
    loadgen::announce_options o;
    o.peers = 2;
    o.torrents = 1;
    loadgen::announce_workload w(o);
    std::vector<wire::announce_event> peer1;
    for (int i = 0; i < 20; ++i) {
        const auto p = w.next();
        EXPECT_EQ(p.peer, static_cast<std::uint32_t>(i % 2));
        EXPECT_EQ(p.request.port, 1024 + i % 2);
        if (p.peer == 1) peer1.push_back(p.request.event);
    }
    using ev = wire::announce_event;
    EXPECT_EQ(peer1, (std::vector<ev>{ev::started, ev::none, ev::none, ev::none, ev::completed,
                                      ev::none, ev::none, ev::none, ev::none, ev::stopped}));
    EXPECT_EQ(w.next().request.event, ev::started);  // peer 0 begins a new session
}

}  // namespace
