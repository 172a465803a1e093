// The counters the driver reports per peer, read from a minibit-peer --stats-json file (the
// object written by swarm::to_json(torrent_stats), found at the top level or nested inside).
// Value types; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {

/// One peer's totals over its whole run.
struct peer_counters {
    std::uint64_t messages_sent = 0;  ///< every peer-wire message type, keep-alives excluded
    std::uint64_t messages_received = 0;
    std::uint64_t connections = 0;  ///< outgoing + incoming connections made
    std::uint64_t bytes_up = 0;     ///< payload (piece data) bytes
    std::uint64_t bytes_down = 0;
    std::uint64_t wire_bytes_up = 0;  ///< everything sent on the sockets
    std::uint64_t wire_bytes_down = 0;
    std::optional<double> seconds_to_complete;     ///< from start to the last verified piece
    std::optional<double> seconds_to_first_block;  ///< from start to the first block received
};

/// Parses a stats document; bad_json (with the byte offset) when it is not JSON or holds no
/// stats object.
[[nodiscard]] result<peer_counters> parse_peer_stats(std::string_view text);

/// Reads and parses a --stats-json file (at most 1 MiB).
[[nodiscard]] result<peer_counters> read_peer_stats(const std::filesystem::path& path);

}  // namespace minibit::loadgen
