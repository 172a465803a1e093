// The host agent's API beyond the torrent verbs (issue 12), between real agent processes:
// rate caps measured at the receiving end (a 2 MiB/s upload cap within 10% over 5 s, then a
// download cap set at run time), server-sent events seen by several clients at once and used
// by the `wait` verb, /metrics parsed as Prometheus text (Unix socket and the read-only TCP
// listener), and the TCP control listener refusing a missing or wrong bearer token with 401
// and no change. Every malformed request changes nothing.
#include <netinet/in.h>
#include <sys/socket.h>

#include <sys/un.h>
#include <chrono>
#include <iostream>
#include <regex>
#include <set>
#include <thread>

#include "agent_fixture.hpp"

namespace minibit::faults {
namespace {

using steady = std::chrono::steady_clock;
using namespace std::string_literals;

/// Bytes per second `a` received for `hash` over `window` (measured by its API).
double received_rate(const agent_process& a, const info_hash& hash,
                     std::chrono::milliseconds window) {
    const auto t0 = steady::now();
    const auto b0 = a.torrent(hash).value("bytes_downloaded", 0ULL);
    std::this_thread::sleep_for(window);
    const auto b1 = a.torrent(hash).value("bytes_downloaded", 0ULL);
    const std::chrono::duration<double> took = steady::now() - t0;
    return double(b1 - b0) / took.count();
}

// A cap may be exceeded by at most 10%; below it the rate only has to stay near the cap, since
// a starved machine (a sanitizer build beside the suite) delivers less than any cap: 1.55 of
// 2 MiB/s and 0.61 of 1 MiB/s were seen so, with the limiter working.
void expect_capped(double rate, double cap) {
    EXPECT_LE(rate, cap * 1.10);
    EXPECT_GE(rate, cap * 0.55);
}

TEST(AgentApi, ACappedUploadExceedsNoCapByOverTenPercentAndChangesAtRunTime) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    torrent_set set(src, tracker.port, 1, 24U << 20U);
    const info_hash hash = set.infos[0].hash;
    constexpr double cap = 2 << 20;

    agent_process origin(dir.path, "origin", src);
    origin.extra = {"--max-upload", "2MiB"};
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    ASSERT_EQ(
        origin.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    const json limits = json::parse(origin.call("GET", "/v1/limits").body);
    EXPECT_EQ(limits.value("max_upload", 0ULL), 2U << 20U) << limits;
    EXPECT_EQ(limits.value("max_download", 1ULL), 0U) << limits;

    agent_process leech(dir.path, "leech", dir.path / "downloads");
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    ASSERT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    ASSERT_TRUE(wait_until(
        [&] { return leech.torrent(hash).value("bytes_downloaded", 0ULL) > 256ULL * 1024; }, 15s,
        50ms))
        << read_all(leech.log);
    std::this_thread::sleep_for(500ms);  // past the start-up burst
    const double capped = received_rate(leech, hash, 5s);
    std::cout << "global upload cap 2 MiB/s: received " << capped / (1 << 20) << " MiB/s\n";
    expect_capped(capped, cap);

    // At run time: the origin's cap lifted, the receiver's own download cap for the torrent.
    ASSERT_EQ(
        origin.call("PATCH", "/v1/limits", "application/json", R"({"max_upload":null})").status,
        200);
    const auto set_cap = leech.call("PATCH", "/v1/torrents/" + hash.hex() + "/limits",
                                    "application/json", R"({"max_download":"1MiB"})");
    ASSERT_EQ(set_cap.status, 200) << set_cap.body;
    EXPECT_EQ(leech.torrent(hash).value("max_download", 0ULL), 1U << 20U);
    std::this_thread::sleep_for(500ms);
    const double down_capped = received_rate(leech, hash, 3s);
    std::cout << "download cap 1 MiB/s set at run time: received " << down_capped / (1 << 20)
              << " MiB/s\n";
    expect_capped(down_capped, cap / 2);
    EXPECT_EQ(leech.torrent(hash).value("state", ""), "downloading") << "still short of the end";

    // Malformed limits: 400 or 415, nothing changed.
    const std::string target = "/v1/torrents/" + hash.hex() + "/limits";
    for (const auto& [body, type] : std::vector<std::pair<std::string, std::string>>{
             {R"({"max_download":"fast"})", "application/json"},
             {R"({"max_download":-5})", "application/json"},
             {R"({"max_upload":1,"colour":1})", "application/json"},
             {"{", "application/json"},
             {R"({"max_upload":1})", "text/plain"}}) {
        const auto r = leech.call("PATCH", target, type, body);
        EXPECT_TRUE(r.status == 400 || r.status == 415) << body << ": " << r.body;
    }
    EXPECT_EQ(leech.call("PUT", "/v1/limits", "application/json", "{}").status, 405);
    EXPECT_EQ(leech
                  .call("PATCH", "/v1/torrents/" + std::string(40, 'c') + "/limits",
                        "application/json", R"({"max_upload":1})")
                  .status,
              404);
    const json after = json::parse(leech.call("GET", target).body);
    EXPECT_EQ(after.value("max_download", 0ULL), 1U << 20U) << after;
    EXPECT_EQ(after.value("max_upload", 1ULL), 0U) << after;
    // A torrent's own caps are saved with its settings.
    EXPECT_NE(read_all(leech.state / "torrents" / (hash.hex() + ".json")).find("max_download"),
              std::string::npos);
}

/// One HTTP request over TCP to 127.0.0.1:port: (status, body); status 0 when it failed.
std::pair<int, std::string> tcp_call(std::uint16_t port, const std::string& method,
                                     const std::string& target, const std::string& headers = "",
                                     const std::string& body = "") {
    fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return {0, ""};
    timeval tv{5, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string req = method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + headers +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
        return {0, ""};
    }
    std::string in;
    char buf[65536];
    while (true) {
        const auto n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, std::size_t(n));
    }
    const auto end = in.find("\r\n\r\n");
    if (!in.starts_with("HTTP/1.1 ") || end == std::string::npos) return {0, in};
    return {std::stoi(in.substr(9, 3)), in.substr(end + 4)};
}

/// Checks Prometheus text: every family has HELP and TYPE before its samples, every sample
/// line parses, histogram buckets are cumulative; the samples by "name{labels}".
std::map<std::string, double> parse_prometheus(const std::string& text) {
    static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$)");
    static const std::regex type_line(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
    std::map<std::string, double> out;
    std::set<std::string> typed;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (line.starts_with("# HELP ")) continue;
        if (std::regex_match(line, m, type_line)) {
            EXPECT_TRUE(typed.insert(m[1]).second) << "two TYPE lines: " << line;
            continue;
        }
        if (!std::regex_match(line, m, sample)) {
            ADD_FAILURE() << "not a sample line: '" << line << "'";
            continue;
        }
        std::string family = m[1];
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            if (!typed.contains(family) && family.ends_with(suffix)) {
                family.resize(family.size() - std::strlen(suffix));
            }
        }
        EXPECT_TRUE(typed.contains(family)) << "no TYPE before " << line;
        const std::string value = m[3];
        out[std::string(m[1]) + std::string(m[2])] = value == "+Inf" ? 1e300 : std::stod(value);
    }
    return out;
}

TEST(AgentApi, EventsReachEveryClientAndWaitUsesThem) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    torrent_set set(src, tracker.port, 1, 8U << 20U);
    const info_hash hash = set.infos[0].hash;
    agent_process origin(dir.path, "origin", src);
    origin.extra = {"--max-upload", "3MiB"};  // about 3 s: several progress events
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    ASSERT_EQ(
        origin.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    agent_process leech(dir.path, "leech", dir.path / "downloads");
    ASSERT_TRUE(leech.start()) << read_all(leech.log);

    auto all = agent::event_stream::open(leech.socket, "/v1/events");
    auto one = agent::event_stream::open(leech.socket, "/v1/events?info_hash=" + hash.hex());
    ASSERT_TRUE(all && one);
    // A client that subscribes and never reads does not hold anything up.
    fd_guard idle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strcpy(sa.sun_path, leech.socket.c_str());
        ASSERT_EQ(::connect(idle.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        const std::string get = "GET /v1/events HTTP/1.1\r\n\r\n";
        ASSERT_EQ(::send(idle.get(), get.data(), get.size(), MSG_NOSIGNAL), ssize_t(get.size()));
    }
    EXPECT_EQ(leech.call("GET", "/v1/events?info_hash=xyz").status, 400);
    EXPECT_EQ(leech.call("GET", "/v1/events?colour=red").status, 400);
    EXPECT_EQ(leech.call("POST", "/v1/events").status, 405);

    ASSERT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    // `wait` runs while this thread reads the events as they arrive (to time them).
    std::pair<int, std::string> waited{-1, ""};
    std::thread waiter([&] { waited = leech.cli({"wait", hash.hex(), "--timeout", "30"}); });
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::vector<std::string> kinds;
    std::vector<std::chrono::steady_clock::time_point> progress_at;
    std::uint32_t last_have = 0;
    while (kinds.empty() || kinds.back() != "completed") {
        auto ev = (*all)->next(deadline);
        if (!ev) {
            ADD_FAILURE() << ev.error().message();
            break;
        }
        const auto j = json::parse(ev->data);
        EXPECT_EQ(j.value("info_hash", ""), hash.hex());
        kinds.push_back(ev->kind);
        if (ev->kind == "progress") {
            progress_at.push_back(std::chrono::steady_clock::now());
            EXPECT_GT(j.value("pieces_have", 0U), last_have) << "progress only when it grew";
            last_have = j.value("pieces_have", 0U);
        }
    }
    waiter.join();
    EXPECT_EQ(waited.first, 0) << waited.second << read_all(leech.log);
    EXPECT_EQ(leech.torrent(hash).value("state", ""), "seeding");
    ASSERT_FALSE(kinds.empty());
    EXPECT_EQ(kinds.front(), "added");
    EXPECT_GE(progress_at.size(), 2U) << "a 3 s download reports progress more than once";
    for (std::size_t i = 1; i < progress_at.size(); ++i) {
        EXPECT_GE(progress_at[i] - progress_at[i - 1], 700ms) << "progress at most every second";
    }
    // The filtered client saw the same torrent's events, and both see the removal.
    auto first = (*one)->next(deadline);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->kind, "added");
    ASSERT_EQ(leech.call("DELETE", "/v1/torrents/" + hash.hex()).status, 200);
    for (auto* s : {&*all, &*one}) {
        std::string kind;
        while (kind != "removed") {
            auto ev = (*s)->next(deadline);
            ASSERT_TRUE(ev) << ev.error().message();
            kind = ev->kind;
        }
    }
    EXPECT_EQ(leech.call("GET", "/v1/status").status, 200) << "the idle client blocks nothing";
}

TEST(AgentApi, MetricsParseAndTheTcpApiWantsTheBearerToken) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    torrent_set set(src, 1, 1, 1U << 20U);
    const std::string token = "0123456789abcdef0123456789abcdef";
    std::ofstream(dir.path / "token") << token << "\n";
    fs::permissions(dir.path / "token", fs::perms::owner_read | fs::perms::owner_write);
    agent_process a(dir.path, "agent", src);
    const std::uint16_t api_port = free_port();
    const std::uint16_t metrics_port = free_port();
    a.extra = {"--api",
               "127.0.0.1:" + std::to_string(api_port),
               "--api-token-file",
               (dir.path / "token").string(),
               "--metrics",
               "127.0.0.1:" + std::to_string(metrics_port)};
    ASSERT_TRUE(a.start()) << read_all(a.log);
    ASSERT_EQ(a.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
                  .status,
              201);
    const std::string hex = set.infos[0].hash.hex();

    // TCP API: no token, a wrong one, a wrong scheme: 401 JSON, nothing changes.
    const std::string list_before = a.call("GET", "/v1/torrents").body;
    const std::string bearer = "Authorization: Bearer " + token + "\r\n";
    for (const std::string& auth :
         {std::string(), "Authorization: Bearer wrong\r\n"s,
          "Authorization: Basic " + token + "\r\n", "Authorization: Bearer " + token + "x\r\n"}) {
        auto [st, body] = tcp_call(api_port, "DELETE", "/v1/torrents/" + hex, auth);
        EXPECT_EQ(st, 401) << auth << body;
        EXPECT_TRUE(json::parse(body, nullptr, false).contains("error")) << body;
    }
    EXPECT_EQ(a.call("GET", "/v1/torrents").body, list_before);
    auto [st_ok, listed] = tcp_call(api_port, "GET", "/v1/torrents", bearer);
    EXPECT_EQ(st_ok, 200);
    EXPECT_EQ(json::parse(listed)["torrents"].size(), 1U) << listed;
    EXPECT_EQ(tcp_call(api_port, "PATCH", "/v1/limits",
                       bearer + "Content-Type: application/json\r\n", R"({"max_upload":"1MiB"})")
                  .first,
              200);
    EXPECT_EQ(json::parse(a.call("GET", "/v1/status").body)["limits"].value("max_upload", 0ULL),
              1U << 20U);

    // Metrics on the Unix socket and on the read-only TCP listener.
    const auto r = a.call("GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    const auto m = parse_prometheus(r.body);
    EXPECT_EQ(m.at("minibit_agent_torrents"), 1);
    EXPECT_EQ(m.at("minibit_torrent_pieces{info_hash=\"" + hex + "\"}"),
              set.infos[0].piece_count());
    EXPECT_EQ(m.at("minibit_agent_rate_cap_bytes_per_second{direction=\"upload\"}"), 1 << 20);
    const double listed_count = m.at("minibit_api_request_duration_seconds_count{route=\"list\"}");
    EXPECT_GE(listed_count, 2);
    EXPECT_EQ(m.at("minibit_api_request_duration_seconds_bucket{route=\"list\",le=\"+Inf\"}"),
              listed_count);
    double previous = 0;
    for (const char* le : {"0.0001", "0.001", "0.01", "0.1", "1"}) {
        const double v = m.at(
            std::string(R"(minibit_api_request_duration_seconds_bucket{route="list",le=")") + le +
            "\"}");
        EXPECT_GE(v, previous) << le;
        previous = v;
    }
    auto [mst, mbody] = tcp_call(metrics_port, "GET", "/metrics");
    EXPECT_EQ(mst, 200);
    EXPECT_GT(parse_prometheus(mbody).count("minibit_agent_uptime_seconds"), 0U);
    EXPECT_EQ(tcp_call(metrics_port, "GET", "/v1/torrents").first, 404);
    EXPECT_EQ(tcp_call(metrics_port, "DELETE", "/v1/torrents/" + hex).first, 404);
    EXPECT_EQ(a.call("GET", "/v1/torrents").body.find(hex) != std::string::npos, true);
    EXPECT_EQ(a.call("POST", "/metrics").status, 405);
}

}  // namespace
}  // namespace minibit::faults
