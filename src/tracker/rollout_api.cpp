#include "rollout_api.hpp"

#include <charconv>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "minibit/io/address.hpp"
#include "rollout_web.hpp"

namespace minibit::tracker {
namespace {

using json = nlohmann::ordered_json;
using millis = std::chrono::milliseconds;

// An expected count is a decimal number in a tiny body; anything longer is refused unread.
constexpr std::uint64_t max_body_bytes = 64;
constexpr std::uint32_t max_expected = 100000000;

millis steady_now() {
    return std::chrono::duration_cast<millis>(std::chrono::steady_clock::now().time_since_epoch());
}

std::int64_t unix_now_ms() {
    return std::chrono::duration_cast<millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

rollout_answer json_reply(int status, const json& body) {
    return {http_reply{status, "application/json", body.dump() + "\n"},
            "Cache-Control: no-store\r\n"};
}

rollout_answer error_reply(int status, std::string_view message) {
    return json_reply(status, json{{"error", message}});
}

/// The path of a request target (without its query), if the target is one of ours.
std::optional<std::string_view> our_path(std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/" || path == "/v1" || path.starts_with("/v1/") || path.starts_with("/ui/")) {
        return path;
    }
    return std::nullopt;
}

/// The request target of the head at the start of `buffer`, without parsing the head: the
/// tracker's hot path (/announce) must not pay a second parse.
std::string_view peek_target(std::string_view buffer) {
    const auto sp = buffer.find(' ');
    if (sp == std::string_view::npos || sp > 16) return {};
    const auto rest = buffer.substr(sp + 1);
    return rest.substr(0, rest.find_first_of(" \r\n"));
}

/// Compares in time independent of where the first difference is.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned diff = a.size() == b.size() ? 0U : 1U;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i]) ^
                static_cast<unsigned char>(b.empty() ? 0 : b[i % b.size()]);
    }
    return diff == 0;
}

std::string peer_text(const peer_address& p) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (p.address_bytes == 16) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        std::memcpy(&in6->sin6_addr, p.address.data(), 16);
        in6->sin6_port = htons(p.port);
        len = sizeof(sockaddr_in6);
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, p.address.data(), 4);
        in->sin_port = htons(p.port);
        len = sizeof(sockaddr_in);
    }
    return io::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len).to_string();
}

json times_json(const completion_times& t) {
    return {{"count", t.count}, {"p50", t.p50}, {"p90", t.p90}, {"p99", t.p99}, {"max", t.max}};
}

json summary_json(const rollout_summary& s, const swarm_counts& c, std::int64_t unix_ms) {
    json j{{"info_hash", s.hash.hex()}};
    j["first_seen_unix_ms"] = s.since_first_seen ? json(unix_ms - s.since_first_seen->count())
                                                 : json(nullptr);
    j["elapsed_ms"] = s.since_first_seen ? json(s.since_first_seen->count()) : json(nullptr);
    j["expected"] = s.expected ? json(*s.expected) : json(nullptr);
    j["completed"] = s.completed;
    j["progress"] = s.expected && *s.expected > 0
                        ? json(static_cast<double>(s.completed) / *s.expected)
                        : json(nullptr);
    j["seeders"] = c.complete;
    j["leechers"] = c.incomplete;
    j["downloaded"] = c.downloaded;
    j["downloading"] = s.downloading;
    j["stragglers"] = s.stragglers;
    j["gone"] = s.gone;
    j["untracked"] = s.untracked;
    j["time_to_complete_ms"] = times_json(s.times);
    return j;
}

}  // namespace

rollout_api::rollout_api(tracker_service& service, rollout_table& table, rollout_access access)
    : service_(service), table_(table), access_(std::move(access)) {}

rollout_outcome rollout_api::take(std::string_view buffer, const wire::http_limits& limits) const {
    rollout_outcome out;
    if (!our_path(peek_target(buffer))) return out;
    const auto head = wire::parse_http_request(buffer, limits);
    if (!head) return out;  // incomplete or malformed: the tracker's parser answers it
    out.what = rollout_outcome::kind::reply;
    out.persist = head->persist;
    out.consumed = head->head_bytes;
    if (head->framing == wire::body_framing::chunked ||
        head->framing == wire::body_framing::until_close) {
        out.answer = error_reply(411, "send the body with a Content-Length");
        out.persist = wire::http_connection::close;
        return out;
    }
    const std::uint64_t length = head->framing == wire::body_framing::content_length
                                     ? head->content_length
                                     : 0;
    if (length > max_body_bytes) {
        out.answer = error_reply(413, "the body is longer than 64 bytes");
        out.persist = wire::http_connection::close;
        return out;
    }
    if (buffer.size() < head->head_bytes + length) {
        out.what = rollout_outcome::kind::incomplete;
        return out;
    }
    out.consumed += length;
    out.answer = route(*head, buffer.substr(head->head_bytes, length));
    return out;
}

bool rollout_api::authorized(const wire::http_request_head& head) const {
    if (!access_.admin_token) return false;
    const auto value = head.headers.find("authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (!value || value->size() <= scheme.size()) return false;
    const std::string_view given = *value;
    bool scheme_ok = true;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        scheme_ok &= std::tolower(static_cast<unsigned char>(given[i])) ==
                     std::tolower(static_cast<unsigned char>(scheme[i]));
    }
    return scheme_ok && same_secret(given.substr(scheme.size()), *access_.admin_token);
}

rollout_answer rollout_api::route(const wire::http_request_head& head,
                                  std::string_view body) const {
    const std::string_view path = *our_path(head.target);
    if (path.starts_with("/v1")) return route_v1(head, path, body);
    if (head.method != "GET") return error_reply(405, "only GET is served here");
    const web_asset* asset = find_web_asset(path == "/" ? "/index.html" : path);
    if (asset == nullptr) return error_reply(404, "no such page");
    return {http_reply{200, asset->content_type, std::string(asset->body)},
            "Cache-Control: no-cache\r\n"};
}

rollout_answer rollout_api::route_v1(const wire::http_request_head& head, std::string_view path,
                                     std::string_view body) const {
    constexpr std::string_view base = "/v1/torrents";
    const bool write = head.method != "GET";
    if (write && head.method != "PUT" && head.method != "DELETE") {
        return error_reply(405, "use GET, or PUT or DELETE on /v1/torrents/HASH/expect");
    }
    if ((write || access_.protect_reads) && !authorized(head)) {
        if (write && !access_.admin_token) {
            return error_reply(403, "writes are off: start the tracker with --admin-token-file");
        }
        rollout_answer r = error_reply(401, "missing or wrong bearer token");
        r.headers += "WWW-Authenticate: Bearer realm=\"minibit-tracker\"\r\n";
        return r;
    }
    if (path == base || path == "/v1/torrents/") {
        return write ? error_reply(405, "the torrent list is read-only") : list();
    }
    if (!path.starts_with("/v1/torrents/")) return error_reply(404, "no such endpoint");
    std::string_view rest = path.substr(base.size() + 1);
    const auto slash = rest.find('/');
    const auto hash = info_hash::from_hex(rest.substr(0, slash));
    if (!hash) return error_reply(400, "the info hash must be 40 hex digits");
    if (slash == std::string_view::npos) {
        return write ? error_reply(405, "use PUT /v1/torrents/HASH/expect") : one(*hash);
    }
    if (rest.substr(slash) != "/expect") return error_reply(404, "no such endpoint");
    if (!write) return error_reply(405, "use PUT or DELETE on /expect");
    return expect(*hash, head.method, body);
}

rollout_answer rollout_api::list() const {
    const auto now = steady_now();
    const auto unix_ms = unix_now_ms();
    json torrents = json::array();
    for (const rollout_summary& s : table_.list(now)) {
        const swarm_counts c = service_.with_shard(
            service_.shard_of(s.hash), [&](swarm_shard& sh) { return sh.scrape(s.hash); });
        torrents.push_back(summary_json(s, c, unix_ms));
    }
    return json_reply(200, json{{"now_unix_ms", unix_ms},
                                {"straggler_after_ms", table_.config().straggler_after.count()},
                                {"torrents", std::move(torrents)}});
}

rollout_answer rollout_api::one(const info_hash& hash) const {
    const auto now = steady_now();
    const auto d = table_.detail(hash, now);
    if (!d) return error_reply(404, "the tracker has seen no announce or expectation for it");
    const swarm_counts c = service_.with_shard(service_.shard_of(hash),
                                               [&](swarm_shard& sh) { return sh.scrape(hash); });
    const auto unix_ms = unix_now_ms();
    json j = summary_json(d->summary, c, unix_ms);
    json list = json::array();
    for (const straggler& s : d->stragglers) {
        list.push_back({{"peer", peer_text(s.peer)},
                        {"left", s.left},
                        {"since_progress_ms", s.since_progress.count()},
                        {"since_first_ms", s.since_first.count()}});
    }
    j["straggler_list"] = std::move(list);
    j["completion_series"] = {{"bucket_ms", d->bucket_ms}, {"counts", d->completions}};
    j["now_unix_ms"] = unix_ms;
    j["straggler_after_ms"] = table_.config().straggler_after.count();
    return json_reply(200, j);
}

rollout_answer rollout_api::expect(const info_hash& hash, std::string_view method,
                                   std::string_view body) const {
    std::optional<std::uint32_t> count;
    if (method == "PUT") {
        std::string_view text = body;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
            text.remove_suffix(1);
        std::uint32_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
            v > max_expected) {
            return error_reply(422, "the body must be a host count, 0 to 100000000");
        }
        count = v;
    }
    if (auto r = table_.set_expected(hash, count, steady_now()); !r) {
        return error_reply(507, r.error().reason);
    }
    return one(hash);
}

}  // namespace minibit::tracker
