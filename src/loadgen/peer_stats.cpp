#include "minibit/loadgen/peer_stats.hpp"

#include <fmt/format.h>

#include "minibit/loadgen/swarm_files.hpp"

namespace minibit::loadgen {
namespace {

constexpr std::uint64_t max_stats_bytes = 1U << 20U;
constexpr std::size_t max_search_depth = 8;

// The first object (depth first) holding "messages_sent": the torrent_stats object.
const json_value* find_stats_object(const json_value& v, std::size_t depth) {
    if (depth > max_search_depth) return nullptr;
    if (v.find("messages_sent") != nullptr) return &v;
    const auto* members = v.members();
    if (members == nullptr) return nullptr;
    for (const auto& [key, child] : *members) {
        if (const auto* found = find_stats_object(child, depth + 1)) return found;
    }
    return nullptr;
}

std::uint64_t count(const json_value& stats, std::string_view key) {
    const auto* v = stats.find(key);
    const auto n = v != nullptr ? v->number() : std::nullopt;
    return n && *n > 0 ? static_cast<std::uint64_t>(*n) : 0;
}

std::uint64_t sum_members(const json_value& stats, std::string_view key) {
    const auto* v = stats.find(key);
    const auto* members = v != nullptr ? v->members() : nullptr;
    std::uint64_t total = 0;
    if (members == nullptr) return total;
    for (const auto& [name, n] : *members) {
        const auto x = n.number();
        if (x && *x > 0) total += static_cast<std::uint64_t>(*x);
    }
    return total;
}

}  // namespace

result<peer_counters> counters_from_json(const json_value& doc) {
    const json_value* stats = find_stats_object(doc, 0);
    if (stats == nullptr) return fail(loadgen_errc::bad_json, "no object with \"messages_sent\"");
    peer_counters c;
    c.messages_sent = sum_members(*stats, "messages_sent");
    c.messages_received = sum_members(*stats, "messages_received");
    c.connections = count(*stats, "connections_out") + count(*stats, "connections_in");
    c.bytes_up = count(*stats, "payload_bytes_up");
    c.bytes_down = count(*stats, "payload_bytes_down");
    c.wire_bytes_up = count(*stats, "wire_bytes_up");
    c.wire_bytes_down = count(*stats, "wire_bytes_down");
    if (const auto* t = stats->find("seconds_to_complete")) c.seconds_to_complete = t->number();
    return c;
}

result<peer_counters> read_peer_stats(const std::filesystem::path& path) {
    auto text = read_file(path, max_stats_bytes);
    if (!text) return std::unexpected(text.error());
    auto doc = parse_json(*text);
    if (!doc) {
        return fail(loadgen_errc::bad_json,
                    fmt::format("{}: {}", path.string(), doc.error().message()));
    }
    return counters_from_json(*doc);
}

}  // namespace minibit::loadgen
