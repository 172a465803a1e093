#include "minibit/swarm/torrent_stats.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace minibit::swarm {
namespace {

using json = nlohmann::ordered_json;

/// The messages that occurred, keyed by name (zero counts omitted).
json messages_json(const std::array<std::uint64_t, message_kinds>& counts) {
    json out = json::object();
    for (std::size_t id = 0; id < counts.size(); ++id) {
        if (counts[id] != 0) out[std::string(message_name(id))] = counts[id];
    }
    return out;
}

/// `value` rounded to `places` decimals, as the figures were always written.
double rounded(double value, int places) {
    const double scale = std::pow(10.0, places);
    return std::round(value * scale) / scale;
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
    json out = {{"messages_sent", messages_json(s.messages_sent)},
                {"messages_received", messages_json(s.messages_received)},
                {"keepalives_sent", s.keepalives_sent},
                {"keepalives_received", s.keepalives_received},
                {"payload_bytes_down", s.payload_bytes_down},
                {"payload_bytes_up", s.payload_bytes_up},
                {"wire_bytes_down", s.wire_bytes_down},
                {"wire_bytes_up", s.wire_bytes_up},
                {"duplicate_blocks", s.duplicate_blocks},
                {"requests_timed_out", s.requests_timed_out},
                {"connections_out", s.connections_out},
                {"connections_in", s.connections_in},
                {"connect_failures", s.connect_failures},
                {"disconnects", s.disconnects},
                {"protocol_violations", s.protocol_violations},
                {"pieces_verified", s.pieces_verified},
                {"hash_failures", s.hash_failures},
                {"peers_banned", s.peers_banned},
                {"pieces_have", s.pieces_have},
                {"piece_count", s.piece_count},
                {"peers_connected", s.peers_connected},
                {"download_rate", rounded(s.download_rate, 1)},
                {"upload_rate", rounded(s.upload_rate, 1)},
                {"seconds_running", rounded(s.seconds_running, 3)},
                {"seconds_to_complete", nullptr}};
    if (s.seconds_to_complete) out["seconds_to_complete"] = rounded(*s.seconds_to_complete, 3);
    if (s.seconds_to_first_block) {
        out["seconds_to_first_block"] = rounded(*s.seconds_to_first_block, 4);
    }
    return out.dump();
}

}  // namespace minibit::swarm
