// How many descriptors an in-process swarm needs, and fitting it to this machine's open-file
// limit: the soft limit is raised to the hard one (the hard one too when privileged), a default
// --max-peers is lowered to what fits, and only what cannot fit is refused. Start-up only,
// before anything is started; one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/swarm_options.hpp"

namespace minibit::loadgen {

/// Descriptors besides the peers' own: the driver, the tracker probe, the log, the runtime.
inline constexpr std::uint64_t spare_descriptors = 256;

/// A peer's own descriptors: its listener, its file, its tracker connection, and 2 more that
/// were its HTTP client's wake-up socket pair; that pair is now one per reactor thread (the
/// peers of a thread share one libcurl multi handle) and the 2 are kept as slack: lowering the
/// count widens the connection budget, which is a change of its own to measure.
inline constexpr std::uint64_t own_descriptors_per_peer = 5;

/// The fewest connections per peer a default --max-peers is lowered to: what a peer needs to
/// use the 4 addresses the tracker gives it by default.
inline constexpr std::uint32_t min_connections_per_peer = 4;

/// Descriptors `peers` in-process peers need with up to `max_peers` connections each: their own
/// (own_descriptors_per_peer), a log file with --log-per-peer, and both ends of a connection
/// between two hosted peers count, one in each peer.
[[nodiscard]] std::uint64_t descriptors_needed(const swarm_options& o, std::uint32_t max_peers);

/// Descriptors kept free of connections for those the budget does not count: sockets accepted
/// and refused at once, closes still in flight, the tracker probe's (1/16 of the limit, >= 64).
[[nodiscard]] std::uint64_t transient_descriptors(std::uint64_t limit);

/// Connections (one unit per end) all in-process peers may hold at once under open-file limit
/// `limit`: what is left after their own descriptors and transient_descriptors(); 0 means no
/// budget (an unlimited `limit`).
[[nodiscard]] std::uint32_t connection_units(const swarm_options& o, std::uint64_t limit);

/// What the limit allows.
struct open_file_fit {
    std::uint64_t limit = 0;          ///< RLIMIT_NOFILE soft limit now in force
    std::uint32_t max_peers = 0;      ///< connections per peer to run with
    std::optional<std::string> note;  ///< one line for stderr when a default was lowered
};

/// Raises RLIMIT_NOFILE and fits --max-peers (when not given) for an in-process swarm; a given
/// --max-peers that does not fit is kept (the connection budget holds the total) with a note;
/// an error when even min_connections_per_peer cannot fit (the reason says what would).
[[nodiscard]] result<open_file_fit> fit_open_files(const swarm_options& o);

}  // namespace minibit::loadgen
