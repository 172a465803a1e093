#include "minibit/swarm/torrent_stats.hpp"

#include <fmt/format.h>

namespace minibit::swarm {
namespace {

void append_messages(std::string& out, std::string_view key,
                     const std::array<std::uint64_t, message_kinds>& counts) {
    out += fmt::format("\"{}\":{{", key);
    bool first = true;
    for (std::size_t id = 0; id < counts.size(); ++id) {
        if (counts[id] == 0) {
            continue;
        }
        out += fmt::format("{}\"{}\":{}", first ? "" : ",", message_name(id), counts[id]);
        first = false;
    }
    out += "},";
}

}  // namespace

std::string_view message_name(std::size_t id) {
    switch (id) {
    case 0: return "choke";
    case 1: return "unchoke";
    case 2: return "interested";
    case 3: return "not_interested";
    case 4: return "have";
    case 5: return "bitfield";
    case 6: return "request";
    case 7: return "piece";
    case 8: return "cancel";
    case 9: return "port";
    case 13: return "suggest";
    case 14: return "have_all";
    case 15: return "have_none";
    case 16: return "reject";
    case 17: return "allowed_fast";
    case 20: return "extended";
    default: return "unknown";
    }
}

std::string to_json(const torrent_stats& s) {
    std::string out = "{";
    append_messages(out, "messages_sent", s.messages_sent);
    append_messages(out, "messages_received", s.messages_received);
    out += fmt::format(
        "\"keepalives_sent\":{},\"keepalives_received\":{},\"payload_bytes_down\":{},"
        "\"payload_bytes_up\":{},\"wire_bytes_down\":{},\"wire_bytes_up\":{},"
        "\"duplicate_blocks\":{},\"requests_timed_out\":{},\"connections_out\":{},"
        "\"connections_in\":{},\"connect_failures\":{},\"disconnects\":{},"
        "\"protocol_violations\":{},\"pieces_verified\":{},\"hash_failures\":{},"
        "\"peers_banned\":{},\"pieces_have\":{},\"piece_count\":{},\"peers_connected\":{},"
        "\"download_rate\":{:.1f},\"upload_rate\":{:.1f},\"seconds_running\":{:.3f},",
        s.keepalives_sent, s.keepalives_received, s.payload_bytes_down, s.payload_bytes_up,
        s.wire_bytes_down, s.wire_bytes_up, s.duplicate_blocks, s.requests_timed_out,
        s.connections_out, s.connections_in, s.connect_failures, s.disconnects,
        s.protocol_violations, s.pieces_verified, s.hash_failures, s.peers_banned, s.pieces_have,
        s.piece_count, s.peers_connected, s.download_rate, s.upload_rate, s.seconds_running);
    if (s.seconds_to_complete) {
        out += fmt::format("\"seconds_to_complete\":{:.3f}}}", *s.seconds_to_complete);
    } else {
        out += "\"seconds_to_complete\":null}";
    }
    return out;
}

}  // namespace minibit::swarm
