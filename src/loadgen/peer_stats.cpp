#include "minibit/loadgen/peer_stats.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "minibit/loadgen/swarm_files.hpp"

namespace minibit::loadgen {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t max_stats_bytes = 1U << 20U;
constexpr std::size_t max_search_depth = 8;

// The first object (depth first) holding "messages_sent": the torrent_stats object.
const json* find_stats_object(const json& v, std::size_t depth) {
    if (depth > max_search_depth || !v.is_object()) return nullptr;
    if (v.contains("messages_sent")) return &v;
    for (const auto& [key, child] : v.items()) {
        if (const auto* found = find_stats_object(child, depth + 1)) return found;
    }
    return nullptr;
}

std::uint64_t as_count(const json& v) {
    if (!v.is_number()) return 0;
    const double n = v.get<double>();
    return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

std::uint64_t count(const json& stats, const char* key) {
    const auto it = stats.find(key);
    return it != stats.end() ? as_count(*it) : 0;
}

std::uint64_t sum_members(const json& stats, const char* key) {
    const auto it = stats.find(key);
    std::uint64_t total = 0;
    if (it == stats.end() || !it->is_object()) return total;
    for (const auto& [name, n] : it->items()) total += as_count(n);
    return total;
}

}  // namespace

result<peer_counters> parse_peer_stats(std::string_view text) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        // "[json.exception.parse_error.101] parse error at line 1, column 9: ...": keep the why.
        const std::string_view what = e.what();
        const auto why = what.find("] ");
        return fail(loadgen_errc::bad_json,
                    std::string(why == std::string_view::npos ? what : what.substr(why + 2)),
                    e.byte > 0 ? e.byte - 1 : 0);
    }
    const json* stats = find_stats_object(doc, 0);
    if (stats == nullptr) return fail(loadgen_errc::bad_json, "no object with \"messages_sent\"");
    peer_counters c;
    c.messages_sent = sum_members(*stats, "messages_sent");
    c.messages_received = sum_members(*stats, "messages_received");
    c.connections = count(*stats, "connections_out") + count(*stats, "connections_in");
    c.bytes_up = count(*stats, "payload_bytes_up");
    c.bytes_down = count(*stats, "payload_bytes_down");
    c.wire_bytes_up = count(*stats, "wire_bytes_up");
    c.wire_bytes_down = count(*stats, "wire_bytes_down");
    if (const auto t = stats->find("seconds_to_complete"); t != stats->end() && t->is_number())
        c.seconds_to_complete = t->get<double>();
    if (const auto t = stats->find("seconds_to_first_block"); t != stats->end() && t->is_number())
        c.seconds_to_first_block = t->get<double>();
    return c;
}

result<peer_counters> read_peer_stats(const std::filesystem::path& path) {
    auto text = read_file(path, max_stats_bytes);
    if (!text) return std::unexpected(text.error());
    auto counters = parse_peer_stats(*text);
    if (!counters) {
        return fail(loadgen_errc::bad_json,
                    fmt::format("{}: {}", path.string(), counters.error().message()));
    }
    return counters;
}

}  // namespace minibit::loadgen
