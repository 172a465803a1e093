#include "minibit/agent/api.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "minibit/agent/agent.hpp"
#include "minibit/agent/metrics.hpp"
#include "minibit/core/human_units.hpp"

namespace minibit::agent {
namespace {

using json = nlohmann::json;

/// Percent-decodes a query component ('+' is a space); nullopt on a bad escape.
std::optional<std::string> url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%') {
            const auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex(s[i + 1]);
            const int lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    if (out.find('\0') != std::string::npos) return std::nullopt;
    return out;
}

/// A request's path split into segments and its query parameters.
struct parsed_target {
    std::vector<std::string_view> segments;
    std::map<std::string, std::string> query;
};

std::optional<parsed_target> parse_target(std::string_view target) {
    parsed_target out;
    const auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    if (path.empty() || path[0] != '/') return std::nullopt;
    path.remove_prefix(1);
    while (!path.empty()) {
        const auto slash = path.find('/');
        out.segments.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    if (q == std::string_view::npos) return out;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        auto key = url_decode(pair.substr(0, eq));
        auto value = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (!key || !value || key->empty() || out.query.contains(*key)) return std::nullopt;
        out.query.emplace(std::move(*key), std::move(*value));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

api_response error_response(int status, const std::string& why) {
    return {status, error_body(why)};
}

int status_of(const error& e) {
    if (e.domain != error_domain(agent_errc::bad_request)) return 500;
    switch (static_cast<agent_errc>(e.code)) {
    case agent_errc::bad_request:
    case agent_errc::bad_torrent:
    case agent_errc::bad_path: return 400;
    case agent_errc::not_found: return 404;
    case agent_errc::duplicate:
    case agent_errc::busy: return 409;
    case agent_errc::storage:
    case agent_errc::state: return 500;
    }
    return 500;
}

api_response from_error(const error& e) {
    return error_response(status_of(e), e.reason);
}

json to_json(const torrent_view& v) {
    json j = {{"info_hash", v.hash.hex()},
              {"name", v.name},
              {"state", to_string(v.state)},
              {"progress", v.piece_count == 0 ? 1.0 : double(v.pieces_have) / v.piece_count},
              {"pieces_have", v.pieces_have},
              {"piece_count", v.piece_count},
              {"total_bytes", v.total_bytes},
              {"bytes_left", v.bytes_left},
              {"bytes_downloaded", v.bytes_downloaded},
              {"bytes_uploaded", v.bytes_uploaded},
              {"download_rate", v.download_rate},
              {"upload_rate", v.upload_rate},
              {"peers", v.peers},
              {"data_dir", v.data_dir.string()},
              {"content_path", (v.data_dir / v.name).string()}};
    j["eta_seconds"] = v.bytes_left > 0 && v.download_rate > 0.0
                           ? json(double(v.bytes_left) / v.download_rate)
                           : (v.bytes_left == 0 ? json(0) : json(nullptr));
    j["error"] = v.error.empty() ? json(nullptr) : json(v.error);
    j["tracker_error"] = v.tracker_error.empty() ? json(nullptr) : json(v.tracker_error);
    j["max_upload"] = v.caps.upload;
    j["max_download"] = v.caps.download;
    j["max_connections"] = v.max_connections;
    j["seed"] = json::parse(seed_policy_json(v.seed));
    j["seed_default"] = v.seed_default;
    j["seeded_seconds"] = v.seeded_seconds;
    j["uploaded_total"] = v.uploaded_total;
    j["scrape_seeders"] = v.scrape_seeders ? json(*v.scrape_seeders) : json(nullptr);
    j["finished_reason"] = v.finished.empty() ? json(nullptr) : json(v.finished);
    j["read_only"] = v.read_only;
    return j;
}

json caps_json(const rate_caps& c) {
    return {{"max_upload", c.upload}, {"max_download", c.download}};
}

/// A rate in a JSON body: bytes per second as a number or a string ("4MiB"); null or 0: none.
std::optional<std::uint64_t> rate_of(const json& v) {
    if (v.is_null()) return 0;
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_string()) return parse_bytes(v.get<std::string>());
    return std::nullopt;
}

/// A connection limit in a JSON body: a whole number up to 65535 (0: the default).
std::optional<std::uint32_t> connection_count(const json& v) {
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 65535) return std::nullopt;
    return v.get<std::uint32_t>();
}

/// Applies a PATCH body {"max_upload"?, "max_download"?} to `caps`; a message when malformed.
std::optional<std::string> patch_caps(const std::string& body, rate_caps& caps) {
    const auto j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return "body is not valid JSON";
    if (!j.is_object()) return "body must be a JSON object";
    rate_caps next = caps;
    for (const auto& [key, value] : j.items()) {
        if (key != "max_upload" && key != "max_download") {
            return fmt::format("unknown field '{}'", key);
        }
        auto rate = rate_of(value);
        if (!rate) {
            return fmt::format(
                "'{}' must be bytes per second: a number, a string such as "
                "\"4MiB\", or null",
                key);
        }
        (key == "max_upload" ? next.upload : next.download) = *rate;
    }
    caps = next;
    return std::nullopt;
}

/// GET or PATCH /v1/limits: the global caps.
api_response global_limits(agent& a, const api_request& req) {
    if (req.method == "GET") return {200, caps_json(a.caps()).dump()};
    if (req.method != "PATCH") return error_response(405, "use GET or PATCH");
    if (req.content_type != "application/json") {
        return error_response(415, "Content-Type must be application/json");
    }
    rate_caps caps = a.caps();
    if (auto why = patch_caps(req.body, caps)) return error_response(400, *why);
    a.set_caps(caps);
    return {200, caps_json(caps).dump()};
}

/// GET or PATCH /v1/torrents/{hash}/limits: one torrent's own caps.
api_response torrent_limits(agent& a, const api_request& req, const info_hash& hash) {
    // Not find(): a cap applies before the torrent's reactor is asked for its figures.
    auto found = a.caps(hash);
    if (!found) return from_error(found.error());
    if (req.method == "GET") return {200, caps_json(*found).dump()};
    if (req.method != "PATCH") return error_response(405, "use GET or PATCH");
    if (req.content_type != "application/json") {
        return error_response(415, "Content-Type must be application/json");
    }
    // max_connections is this torrent's own; the rest are its rate caps.
    auto body = json::parse(req.body, nullptr, false);
    std::optional<std::uint32_t> connections;
    if (body.is_object() && body.contains("max_connections")) {
        connections = connection_count(body["max_connections"]);
        if (!connections) {
            return error_response(400, "'max_connections' must be a whole number (0: default)");
        }
        body.erase("max_connections");
    }
    rate_caps caps = *found;
    if (auto why = patch_caps(body.is_discarded() ? req.body : body.dump(), caps)) {
        return error_response(400, *why);
    }
    auto r = a.set_caps(hash, caps);
    if (r && connections) r = a.set_max_connections(hash, *connections);
    if (!r) return from_error(r.error());
    auto out = caps_json(r->caps);
    out["max_connections"] = r->max_connections;
    return {200, out.dump()};
}

/// Only the listed query parameters may appear.
std::optional<std::string> unknown_param(const parsed_target& t,
                                         std::initializer_list<std::string_view> allowed) {
    for (const auto& [k, v] : t.query) {
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return k;
    }
    return std::nullopt;
}

std::optional<bool> parse_flag(const std::string& v) {
    if (v == "1" || v == "true") return true;
    if (v == "0" || v == "false") return false;
    return std::nullopt;
}

/// Builds an add_request from a JSON body; a message on anything unexpected.
std::variant<add_request, std::string> add_from_json(const std::string& body) {
    const auto j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return std::string("body is not valid JSON");
    if (!j.is_object()) return std::string("body must be a JSON object");
    add_request r;
    for (const auto& [key, value] : j.items()) {
        if (key == "torrent_path" || key == "data_dir") {
            if (!value.is_string()) return fmt::format("'{}' must be a string", key);
            (key == "torrent_path" ? r.torrent_path : r.data_dir) = value.get<std::string>();
        } else if (key == "paused") {
            if (!value.is_boolean()) return std::string("'paused' must be true or false");
            r.paused = value.get<bool>();
        } else if (key == "seed") {
            if (value.is_null()) continue;  // the agent's default goal
            std::string why;
            auto policy = parse_seed_policy(value.dump(), why);
            if (!policy) return why;
            r.seed = *policy;
        } else if (key == "max_connections") {
            auto n = connection_count(value);
            if (!n) return std::string("'max_connections' must be a whole number (0: default)");
            r.max_connections = *n;
        } else {
            return fmt::format("unknown field '{}'", key);
        }
    }
    if (!r.torrent_path) return std::string("'torrent_path' is required");
    return r;
}

api_response add_torrent(agent& a, const api_request& req, const parsed_target& t) {
    add_request r;
    if (req.content_type == "application/x-bittorrent") {
        if (auto bad = unknown_param(t, {"data_dir", "paused"})) {
            return error_response(400, fmt::format("unknown parameter '{}'", *bad));
        }
        r.torrent_bytes = req.body;
        if (auto d = t.query.find("data_dir"); d != t.query.end()) r.data_dir = d->second;
        if (auto p = t.query.find("paused"); p != t.query.end()) {
            auto flag = parse_flag(p->second);
            if (!flag) return error_response(400, "'paused' must be 0, 1, true or false");
            r.paused = *flag;
        }
    } else if (req.content_type == "application/json") {
        if (!t.query.empty()) return error_response(400, "no query parameters with a JSON body");
        auto parsed = add_from_json(req.body);
        if (auto* why = std::get_if<std::string>(&parsed)) return error_response(400, *why);
        r = std::get<add_request>(std::move(parsed));
    } else {
        return error_response(415,
                              "Content-Type must be application/x-bittorrent or "
                              "application/json");
    }
    auto added = a.add(r);
    if (!added) return from_error(added.error());
    return {201, to_json(*added).dump()};
}

api_response status_response(const agent& a) {
    const auto s = a.status();
    json j = {{"version", MINIBIT_AGENT_VERSION},
              {"uptime_seconds", s.uptime.count()},
              {"listen_port", s.port},
              {"torrents", s.torrents},
              {"active_torrents", s.active},
              {"bytes_downloaded", s.bytes_downloaded},
              {"bytes_uploaded", s.bytes_uploaded},
              {"peers", s.peers},
              {"routed_connections", s.routed_connections},
              {"refused_connections", s.refused_connections},
              {"limits", caps_json(s.caps)},
              {"connections", s.connections},
              {"refused_for_limit", s.refused_for_limit}};
    j["limits"]["max_connections"] = s.max_connections;
    j["limits"]["max_connections_per_torrent"] = s.max_connections_per_torrent;
    return {200, j.dump()};
}

void one_torrent(agent& a, const api_request& req, const parsed_target& t, respond_fn respond) {
    const auto hash = info_hash::from_hex(t.segments[2]);
    if (!hash) {
        respond(error_response(400, "the info hash must be 40 hex characters"));
        return;
    }
    const bool action = t.segments.size() == 4;
    if (auto bad = unknown_param(t, req.method == "DELETE" && !action
                                        ? std::initializer_list<std::string_view>{"delete_data"}
                                        : std::initializer_list<std::string_view>{})) {
        respond(error_response(400, fmt::format("unknown parameter '{}'", *bad)));
        return;
    }
    if (action) {
        const auto verb = t.segments[3];
        if (verb == "limits") {
            respond(torrent_limits(a, req, *hash));
            return;
        }
        if (verb != "pause" && verb != "resume") {
            respond(error_response(404, "no such endpoint"));
            return;
        }
        if (req.method != "POST") {
            respond(error_response(405, "use POST"));
            return;
        }
        auto r = verb == "pause" ? a.pause(*hash) : a.resume(*hash);
        respond(r ? api_response{200, to_json(*r).dump()} : from_error(r.error()));
        return;
    }
    if (req.method == "GET") {
        auto r = a.find(*hash);
        respond(r ? api_response{200, to_json(*r).dump()} : from_error(r.error()));
    } else if (req.method == "DELETE") {
        bool delete_data = false;
        if (auto d = t.query.find("delete_data"); d != t.query.end()) {
            auto flag = parse_flag(d->second);
            if (!flag) {
                respond(error_response(400, "'delete_data' must be 0, 1, true or false"));
                return;
            }
            delete_data = *flag;
        }
        const std::string hex = hash->hex();
        auto shared = std::make_shared<respond_fn>(std::move(respond));
        auto started = a.remove(*hash, delete_data, [shared, hex, delete_data](result<void> r) {
            (*shared)(
                r ? api_response{200, json{{"removed", hex}, {"data_deleted", delete_data}}.dump()}
                  : from_error(r.error()));
        });
        if (!started) (*shared)(from_error(started.error()));
    } else {
        respond(error_response(405, "use GET or DELETE"));
    }
}

/// GET /v1/events[?info_hash=H]: server-sent events, one "event:"/"data:" pair each.
api_response events_response(agent& a, const parsed_target& t) {
    if (auto bad = unknown_param(t, {"info_hash"})) {
        return error_response(400, fmt::format("unknown parameter '{}'", *bad));
    }
    std::optional<info_hash> only;
    if (auto h = t.query.find("info_hash"); h != t.query.end()) {
        only = info_hash::from_hex(h->second);
        if (!only) return error_response(400, "the info hash must be 40 hex characters");
    }
    api_response r{200, ": subscribed\n\n", "text/event-stream"};
    r.stream = [&a, only](stream_sink sink) {
        const auto id = a.subscribe([only, sink = std::move(sink)](const agent_event& ev) {
            if (only && ev.hash != *only) return;
            json j = {{"info_hash", ev.hash.hex()},
                      {"pieces_have", ev.pieces_have},
                      {"piece_count", ev.piece_count}};
            if (!ev.error.empty()) j["error"] = ev.error;
            if (!ev.reason.empty()) j["reason"] = ev.reason;
            [[maybe_unused]] const bool alive = sink(
                fmt::format("event: {}\ndata: {}\n\n", ev.kind, j.dump()));
        });
        return [&a, id] { a.unsubscribe(id); };
    };
    return r;
}

/// The route label of a request, for the latency histogram (a fixed, small set).
std::string_view route_of(const api_request& req) {
    const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
    if (path == "/metrics") return "metrics";
    if (path == "/v1/status") return "status";
    if (path == "/v1/limits") return "limits";
    if (path == "/v1/events") return "events";
    if (path == "/v1/torrents") return req.method == "POST" ? "add" : "list";
    if (path.starts_with("/v1/torrents/")) return "torrent";
    return "other";
}

void route(agent& a, latency_histogram& latency, const api_request& req, respond_fn respond);

}  // namespace

void handle_api(agent& a, latency_histogram& latency, const api_request& req, respond_fn respond) {
    const auto started = std::chrono::steady_clock::now();
    const std::string_view label = route_of(req);
    route(a, latency, req,
          [&latency, label, started, respond = std::move(respond)](api_response r) {
              const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
              latency.observe(label, took.count());
              respond(std::move(r));
          });
}

void handle_metrics_only(agent& a, latency_histogram& latency, const api_request& req,
                         respond_fn respond) {
    if (req.target != "/metrics") {
        respond(error_response(404, "only GET /metrics is served here"));
        return;
    }
    handle_api(a, latency, req, std::move(respond));
}

std::string error_body(const std::string& why) {
    return json{{"error", why}}.dump();
}

namespace {

void route(agent& a, latency_histogram& latency, const api_request& req, respond_fn respond) {
    const auto t = parse_target(req.target);
    if (!t) {
        respond(error_response(400, "bad request target"));
        return;
    }
    const auto& seg = t->segments;
    if (seg.size() == 1 && seg[0] == "metrics") {
        if (req.method != "GET") return respond(error_response(405, "use GET"));
        if (!t->query.empty()) return respond(error_response(400, "no parameters here"));
        return respond({200, render_metrics(a, latency), "text/plain; version=0.0.4"});
    }
    if (seg.size() < 2 || seg[0] != "v1") {
        respond(error_response(404, "no such endpoint"));
        return;
    }
    if (seg.size() == 2 && seg[1] == "status") {
        if (req.method != "GET") return respond(error_response(405, "use GET"));
        if (!t->query.empty()) return respond(error_response(400, "no parameters here"));
        return respond(status_response(a));
    }
    if (seg.size() == 2 && seg[1] == "events") {
        if (req.method != "GET") return respond(error_response(405, "use GET"));
        return respond(events_response(a, *t));
    }
    if (seg.size() == 2 && seg[1] == "limits") {
        if (!t->query.empty()) return respond(error_response(400, "no parameters here"));
        return respond(global_limits(a, req));
    }
    if (seg[1] != "torrents" || seg.size() > 4) {
        return respond(error_response(404, "no such endpoint"));
    }
    if (seg.size() == 2) {
        if (req.method == "GET") {
            if (!t->query.empty()) return respond(error_response(400, "no parameters here"));
            // Each torrent's JSON is cached by the agent until its view changes.
            std::string body = R"({"torrents":[)";
            body += a.render_all([](const torrent_view& v) { return to_json(v).dump(); }, ",");
            body += "]}";
            return respond({200, std::move(body)});
        }
        if (req.method == "POST") return respond(add_torrent(a, req, *t));
        return respond(error_response(405, "use GET or POST"));
    }
    one_torrent(a, req, *t, std::move(respond));
}

}  // namespace

}  // namespace minibit::agent
