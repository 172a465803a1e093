// Counters of one torrent's peer engine: messages by type in both directions, payload and wire
// bytes, connections, hash failures, bans, time to complete; exported as a struct and as JSON
// (--stats-json). Value type, filled by the torrent on its reactor thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minibit::swarm {

/// Message ids 0..20 (BEP 3, BEP 6, BEP 10) index the per-type arrays; keep-alives apart.
inline constexpr std::size_t message_kinds = 21;

/// One torrent's counters.
struct torrent_stats {
    std::array<std::uint64_t, message_kinds> messages_sent{};
    std::array<std::uint64_t, message_kinds> messages_received{};
    std::uint64_t keepalives_sent = 0;
    std::uint64_t keepalives_received = 0;
    std::uint64_t payload_bytes_down = 0;  ///< block data received and accepted
    std::uint64_t payload_bytes_up = 0;    ///< block data queued to peers
    std::uint64_t wire_bytes_down = 0;     ///< every byte read from peers
    std::uint64_t wire_bytes_up = 0;       ///< every byte queued to peers
    std::uint64_t duplicate_blocks = 0;    ///< endgame losers and late blocks already received
    std::uint64_t requests_timed_out = 0;
    std::uint64_t connections_out = 0;  ///< outgoing connects that succeeded
    std::uint64_t connections_in = 0;   ///< accepted connections
    std::uint64_t connect_failures = 0;
    std::uint64_t connections_refused = 0;  ///< dials skipped and peers closed at a limit
    std::uint64_t disconnects = 0;
    std::uint64_t protocol_violations = 0;  ///< connections closed for breaking the protocol
    std::uint64_t pieces_verified = 0;      ///< downloaded and verified in this run
    std::uint64_t hash_failures = 0;
    std::uint64_t peers_banned = 0;
    std::uint32_t pieces_have = 0;
    std::uint32_t piece_count = 0;
    std::uint32_t peers_connected = 0;
    std::uint32_t peers_unchoking_us = 0;  ///< connected peers that let us request (not in JSON)
    double download_rate = 0.0;            ///< bytes per second, over the rate meter's window
    double upload_rate = 0.0;
    double seconds_running = 0.0;
    std::optional<double> seconds_to_complete;     ///< set once the download finished in this run
    std::optional<double> seconds_to_first_block;  ///< from start to the first block accepted
    std::string last_violation;  ///< reason of the last protocol-violation close (not in JSON)
};

/// The message name for an id 0..20 ("choke", "have_all", "extended"); "unknown" otherwise.
[[nodiscard]] std::string_view message_name(std::size_t id);

/// The counters as one JSON object (messages keyed by name, zero entries omitted).
[[nodiscard]] std::string to_json(const torrent_stats& stats);

}  // namespace minibit::swarm
