// The tracker's rollout endpoints over real loopback sockets: announces feed GET /v1/torrents
// and /v1/torrents/HASH, PUT /v1/torrents/HASH/expect needs the bearer token, hostile requests
// get a 4xx JSON error and change nothing, reads can be protected, and / serves the page.
// The client is a blocking socket with 5-second timeouts, so every wait is bounded.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "eintr.hpp"
#include "minibit/tracker/server.hpp"

namespace minibit::tracker {
namespace {

using json = nlohmann::json;

const std::string hash_hex = "1122334455667788990011223344556677889900";
const std::string hash_q = "%11%22%33%44%55%66%77%88%99%00%11%22%33%44%55%66%77%88%99%00";
const std::string token = "s3cret-token-for-the-test";

class http_client {
public:
    explicit http_client(const io::address& to) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ok_ = ::connect(fd_, to.data(), to.size()) == 0;
    }
    ~http_client() { ::close(fd_); }
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }
    bool send_all(std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = test_io::send_retry(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    /// One answer: status and body ("" and 0 on timeout or EOF first).
    std::pair<int, std::string> read() {
        while (true) {
            const std::size_t end = buf_.find("\r\n\r\n");
            if (end != std::string::npos) {
                const std::size_t cl = buf_.find("Content-Length: ");
                const std::size_t len = std::stoul(buf_.substr(cl + 16));
                if (buf_.size() >= end + 4 + len) {
                    const int status = std::stoi(buf_.substr(9, 3));
                    head_ = buf_.substr(0, end + 4);
                    std::string body = buf_.substr(end + 4, len);
                    buf_.erase(0, end + 4 + len);
                    return {status, body};
                }
            }
            char tmp[65536];
            const ssize_t n = test_io::recv_retry(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return {0, {}};
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }
    [[nodiscard]] const std::string& last_head() const { return head_; }

private:
    int fd_;
    bool ok_ = false;
    std::string buf_, head_;
};

std::string request(std::string_view method, std::string_view target, std::string_view headers = "",
                    std::string_view body = "") {
    std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
                    std::string(headers);
    if (!body.empty() || method == "PUT")
        r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + std::string(body);
}

std::string announce(int port, std::uint64_t left, std::string_view event = "") {
    std::string t = "/announce?info_hash=" + hash_q + "&peer_id=-MB0001-" +
                    std::to_string(100000000000LL + port) + "&port=" + std::to_string(port) +
                    "&left=" + std::to_string(left);
    if (!event.empty()) t += "&event=" + std::string(event);
    return request("GET", t);
}

std::string bearer(std::string_view t) {
    return "Authorization: Bearer " + std::string(t) + "\r\n";
}

class TrackerRollout : public ::testing::Test {
protected:
    void start(bool with_token, bool protect_reads = false) {
        server_config c;
        c.http = io::address::loopback_v4(0);
        c.udp.reset();
        c.threads = 2;
        c.rollout.table.straggler_after = std::chrono::seconds(60);
        if (with_token) c.rollout.admin_token = token;
        c.rollout.protect_reads = protect_reads;
        auto s = tracker_server::start(c, nullptr);
        ASSERT_TRUE(s) << s.error().message();
        server_ = std::move(*s);
    }
    std::pair<int, std::string> ask(const std::string& raw) {
        http_client c(*server_->http_address());
        EXPECT_TRUE(c.ok());
        EXPECT_TRUE(c.send_all(raw));
        return c.read();
    }
    json get_json(const std::string& target, std::string_view headers = "") {
        const auto [status, body] = ask(request("GET", target, headers));
        EXPECT_EQ(status, 200) << body;
        return json::parse(body, nullptr, false);
    }
    std::unique_ptr<tracker_server> server_;
};

TEST_F(TrackerRollout, AnnouncesShowUpAsCompletionsSeedersLeechersAndTimes) {
    start(false);
    http_client c(*server_->http_address());
    ASSERT_TRUE(c.ok());
    // The origin seed, then three leechers of which two complete.
    ASSERT_TRUE(c.send_all(announce(7000, 0, "started") + announce(7001, 1000, "started") +
                           announce(7002, 1000, "started") + announce(7003, 1000, "started")));
    for (int i = 0; i < 4; ++i) ASSERT_EQ(c.read().first, 200);
    ASSERT_TRUE(c.send_all(announce(7001, 0, "completed") + announce(7002, 0)));
    for (int i = 0; i < 2; ++i) ASSERT_EQ(c.read().first, 200);

    const json all = get_json("/v1/torrents");
    ASSERT_EQ(all["torrents"].size(), 1U) << all.dump();
    const json& t = all["torrents"][0];
    EXPECT_EQ(t["info_hash"], hash_hex);
    EXPECT_EQ(t["completed"], 2);
    EXPECT_EQ(t["seeders"], 3);
    EXPECT_EQ(t["leechers"], 1);
    EXPECT_EQ(t["downloading"], 1);
    EXPECT_EQ(t["stragglers"], 0);
    EXPECT_TRUE(t["expected"].is_null());
    EXPECT_EQ(t["time_to_complete_ms"]["count"], 2);
    EXPECT_GE(t["time_to_complete_ms"]["max"].get<std::int64_t>(),
              t["time_to_complete_ms"]["p50"].get<std::int64_t>());
    EXPECT_EQ(all["straggler_after_ms"], 60000);

    const json one = get_json("/v1/torrents/" + hash_hex);
    EXPECT_EQ(one["completed"], 2);
    EXPECT_TRUE(one["straggler_list"].is_array());
    std::uint64_t charted = 0;
    for (const auto& n : one["completion_series"]["counts"]) charted += n.get<std::uint64_t>();
    EXPECT_EQ(charted, 2U);
    EXPECT_EQ(ask(request("GET", "/v1/torrents/" + std::string(40, 'f'))).first, 404);
}

TEST_F(TrackerRollout, AnExpectationNeedsTheTokenAndShowsAsProgress) {
    start(true);
    const std::string target = "/v1/torrents/" + hash_hex + "/expect";
    EXPECT_EQ(ask(request("PUT", target, "", "3")).first, 401);
    EXPECT_EQ(ask(request("PUT", target, bearer("wrong-token-of-some-length"), "3")).first, 401);
    EXPECT_EQ(ask(request("PUT", target, bearer(token.substr(0, 10)), "3")).first, 401);
    EXPECT_TRUE(get_json("/v1/torrents")["torrents"].empty());

    const auto [status, body] = ask(request("PUT", target, bearer(token), "3\n"));
    ASSERT_EQ(status, 200) << body;
    EXPECT_EQ(json::parse(body)["expected"], 3);
    ASSERT_EQ(ask(announce(7001, 10, "started")).first, 200);
    ASSERT_EQ(ask(announce(7001, 0, "completed")).first, 200);
    const json t = get_json("/v1/torrents")["torrents"][0];
    EXPECT_EQ(t["expected"], 3);
    EXPECT_EQ(t["completed"], 1);
    EXPECT_NEAR(t["progress"].get<double>(), 1.0 / 3, 1e-9);

    EXPECT_EQ(ask(request("DELETE", target, bearer(token))).first, 200);
    EXPECT_TRUE(get_json("/v1/torrents/" + hash_hex)["expected"].is_null());
}

TEST_F(TrackerRollout, HostileRequestsGetAJsonErrorAndChangeNothing) {
    start(true);
    const std::string base = "/v1/torrents/" + hash_hex;
    ASSERT_EQ(ask(request("PUT", base + "/expect", bearer(token), "5")).first, 200);
    struct probe {
        std::string raw;
        int status;
    };
    const std::vector<probe> probes{
        {request("PUT", base + "/expect", bearer(token), "-1"), 422},
        {request("PUT", base + "/expect", bearer(token), "5x"), 422},
        {request("PUT", base + "/expect", bearer(token), "99999999999"), 422},
        {request("PUT", base + "/expect", bearer(token), ""), 422},
        {request("PUT", base + "/expect", bearer(token), std::string(65, '1')), 413},
        {request("PUT", "/v1/torrents/xyz/expect", bearer(token), "5"), 400},
        {request("PUT", "/v1/torrents/" + hash_hex.substr(1) + "/expect", bearer(token), "5"), 400},
        {request("PUT", base + "/other", bearer(token), "5"), 404},
        {request("POST", base + "/expect", bearer(token), "5"), 405},
        {request("PUT", base, bearer(token), "5"), 405},
        {request("PUT", "/v1/torrents", bearer(token), "5"), 405},
        {request("GET", base + "/expect"), 405},
        {request("GET", "/v1/nothing"), 404},
        {"PUT " + base + "/expect HTTP/1.1\r\n" + bearer(token) +
             "Transfer-Encoding: chunked\r\n\r\n1\r\n7\r\n0\r\n\r\n",
         411},
        {request("PUT", base + "/expect", "Authorization: Basic " + token + "\r\n", "7"), 401},
        {request("POST", "/", "", "x"), 405},
        {request("GET", "/ui/missing.js"), 404},
    };
    for (const auto& p : probes) {
        const auto [status, body] = ask(p.raw);
        EXPECT_EQ(status, p.status) << p.raw;
        const json j = json::parse(body, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << body;
        EXPECT_TRUE(j.contains("error")) << body;
    }
    EXPECT_EQ(get_json(base)["expected"], 5);
    // The announce path is untouched by all that.
    EXPECT_EQ(ask(announce(7005, 10)).first, 200);
}

TEST_F(TrackerRollout, WritesAreOffWithoutAToken) {
    start(false);
    const auto [status, body] = ask(
        request("PUT", "/v1/torrents/" + hash_hex + "/expect", bearer(token), "4"));
    EXPECT_EQ(status, 403);
    EXPECT_NE(body.find("--admin-token-file"), std::string::npos);
    EXPECT_TRUE(get_json("/v1/torrents")["torrents"].empty());
}

TEST_F(TrackerRollout, ProtectedReadsNeedTheTokenButThePageDoesNot) {
    start(true, true);
    EXPECT_EQ(ask(request("GET", "/v1/torrents")).first, 401);
    EXPECT_EQ(get_json("/v1/torrents", bearer(token))["torrents"].size(), 0U);
    const auto [status, page] = ask(request("GET", "/"));
    EXPECT_EQ(status, 200);
    EXPECT_NE(page.find("id=\"torrents\""), std::string::npos);
}

TEST_F(TrackerRollout, ServesThePageAndItsFilesAndKeepsTheConnectionAlive) {
    start(true);
    http_client c(*server_->http_address());
    ASSERT_TRUE(c.ok());
    // Pipelined: a PUT with a body, the page, its script, then an announce, on one connection.
    ASSERT_TRUE(
        c.send_all(request("PUT", "/v1/torrents/" + hash_hex + "/expect", bearer(token), "9") +
                   request("GET", "/") + request("GET", "/ui/app.js") + announce(7009, 10)));
    EXPECT_EQ(c.read().first, 200);
    auto [s1, html] = c.read();
    EXPECT_EQ(s1, 200);
    EXPECT_NE(c.last_head().find("text/html"), std::string::npos);
    EXPECT_NE(html.find("/ui/app.js"), std::string::npos);
    auto [s2, js] = c.read();
    EXPECT_EQ(s2, 200);
    EXPECT_NE(c.last_head().find("text/javascript"), std::string::npos);
    EXPECT_NE(js.find("/v1/torrents"), std::string::npos);
    auto [s3, ann] = c.read();
    EXPECT_EQ(s3, 200);
    EXPECT_NE(ann.find("interval"), std::string::npos);
    EXPECT_EQ(get_json("/v1/torrents")["torrents"][0]["expected"], 9);
}

}  // namespace
}  // namespace minibit::tracker
