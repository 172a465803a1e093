// The simulated peers of `minibit-loadgen announce`: derived info hashes, distinct peer ids and
// ports, and each peer's announce lifecycle (started, periodic, completed for half the leechers,
// stopped at the end of a session, then started again). Also parses the tracker URL.
// Single-threaded: one driver owns a workload.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/loadgen/announce_options.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::loadgen {

enum class announce_errc {
    bad_url = 1,  ///< the tracker URL is not http://IPv4:port/path or udp://IPv4:port
    io,           ///< a socket or file operation failed at start
};
/// The domain string of announce load-generator errors.
[[nodiscard]] constexpr std::string_view error_domain(announce_errc) {
    return "announce";
}

/// Announces per peer session: started, 8 periodic (one may be completed), stopped.
inline constexpr std::uint32_t session_announces = 10;
/// Ports per torrent: peer i of a torrent uses port 1024 + i, so a torrent holds at most this.
inline constexpr std::uint32_t max_peers_per_torrent = 64000;

/// Parses "http://127.0.0.1:6969/announce" or "udp://127.0.0.1:6969" (numeric or localhost).
[[nodiscard]] result<tracker_url_parts> parse_tracker_url(std::string_view url);

/// The info hash of simulated torrent `t`: SHA-1 of "minibit-loadgen torrent <t>".
[[nodiscard]] info_hash torrent_hash(std::uint32_t t);

/// Writes the first `torrents` info hashes as 40 lower-case hex digits, one per line.
[[nodiscard]] result<void> write_info_hashes(const std::filesystem::path& file,
                                             std::uint32_t torrents);

/// One announce to send, with the event and numbers of a realistic client.
struct planned_announce {
    wire::announce_request request;  ///< HTTP fields (UDP copies them)
    std::uint32_t peer = 0;
};

/// Hands out announces round-robin over the peers, advancing each peer's lifecycle.
class announce_workload {
public:
    /// Peers and torrents from the options; peers must fit max_peers_per_torrent per torrent.
    explicit announce_workload(const announce_options& options);

    /// The next announce (peer i, i+1, ... wrapping around).
    [[nodiscard]] planned_announce next();

    /// Announces handed out so far.
    [[nodiscard]] std::uint64_t issued() const { return issued_; }

private:
    struct peer_state {
        std::uint8_t seq = 0;  ///< position in the session, 0..session_announces-1
        bool seeder = false;
    };
    [[nodiscard]] wire::announce_event event_of(std::uint32_t peer, peer_state& st) const;

    std::vector<peer_state> peers_;
    std::vector<info_hash> hashes_;
    std::uint32_t numwant_ = 50;
    std::uint32_t cursor_ = 0;
    std::uint64_t issued_ = 0;
};

}  // namespace minibit::loadgen
