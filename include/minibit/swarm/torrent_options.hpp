// Tunables of the peer engine (one torrent's connections, pipeline, choking, banning) and the
// engine's error codes. Plain values with BEP 3 defaults; the rechoke period and the request
// timeout adapt to measured round trips unless set. Value types; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

namespace minibit::io {
class worker_pool;
}  // namespace minibit::io

namespace minibit::swarm {

struct transfer_limits;
class connection_budget;

enum class swarm_errc {
    bad_torrent = 1,  ///< the metainfo cannot be served (e.g. piece length above 4 GiB)
    storage,          ///< the piece store failed to open or write
    listen_failed,    ///< the listen socket could not be bound
    bad_tracker_url,  ///< a tracker URL that is neither http:// nor udp:// host:port
    tracker_failed,   ///< every tracker of every tier failed for too long
};
[[nodiscard]] constexpr std::string_view error_domain(swarm_errc) {
    return "swarm";
}

using namespace std::chrono_literals;

/// How a complete torrent serves its pieces.
enum class seed_policy {
    standard,  ///< every piece announced to every peer (BITFIELD / HAVE_ALL)
    origin,    ///< each piece about once: see origin_plan.hpp (`seed --origin`)
};

/// Options of one torrent's peer engine.
struct torrent_options {
    /// Choke decisions this often; zero (the default): adaptive, about 40 round trips of the
    /// torrent's peers (rechoke_period() in peer_policy.hpp) within the bounds below, so
    /// tit-for-tat follows rates as soon as they settle. BEP 3's 10 s suits 250 ms round trips.
    std::chrono::milliseconds rechoke_interval = 0s;
    std::chrono::milliseconds min_rechoke_interval = 1s;
    std::chrono::milliseconds max_rechoke_interval = 10s;
    /// The optimistic unchoke rotates every this many rechokes (BEP 3: 30 s = 3 x 10 s).
    std::uint32_t optimistic_every_rechokes = 3;
    /// Regular unchoke slots besides the optimistic one (BEP 3: 4).
    std::uint32_t unchoke_slots = 4;
    /// Connections kept at most (incoming and outgoing together).
    std::uint32_t max_peers = 50;
    /// An address is dialled again at most this often (a refused or closed peer is not hammered).
    std::chrono::milliseconds reconnect_interval = 5s;
    /// Housekeeping period: request timeouts, keep-alives, interest, stats.
    std::chrono::milliseconds tick_interval = 500ms;
    /// A peer that sends no block we asked for within this time (from its last block, or from
    /// the oldest request when later) loses its requests to the picker and is snubbed.
    /// Zero (the default): adaptive per peer from its block round trips (request_timeout() in
    /// peer_policy.hpp, RFC 6298 style) within the bounds below.
    std::chrono::milliseconds request_timeout = 0s;
    std::chrono::milliseconds min_request_timeout = 2s;
    std::chrono::milliseconds max_request_timeout = 20s;
    /// BEP 3: keep-alives every two minutes at most; we send one after 90 s of silence.
    std::chrono::milliseconds keepalive_interval = 90s;
    /// A connection that has not completed the handshake by then is closed.
    std::chrono::milliseconds handshake_timeout = 10s;
    /// A peer that sends nothing at all for this long is disconnected.
    std::chrono::milliseconds idle_timeout = 180s;
    /// While a shared connection budget refuses dials, a connection on which neither side has
    /// been interested, and no payload moved, for this long gives its place up.
    std::chrono::milliseconds budget_idle_release = 5s;
    /// Outstanding requests per peer: start, floor and ceiling of the rate-sized pipeline.
    std::uint32_t initial_requests = 24;
    std::uint32_t min_requests = 16;
    std::uint32_t max_requests = 256;
    /// Seconds of the measured download rate kept in flight (bandwidth-delay headroom), or
    /// pipeline_round_trips x the peer's smallest block round trip when that is longer. Short:
    /// what we ask a peer for waits behind at most this much of our other requests there (at 2 s
    /// the last pieces only a seed held waited behind 2 s of common ones: BENCHMARKS.md).
    double pipeline_seconds = 0.5;
    std::uint32_t pipeline_round_trips = 4;
    /// Requests we queue for one peer; more is a flood and costs the peer its connection.
    std::uint32_t max_incoming_requests = 500;
    /// BEP 10 `reqq` we advertise (below max_incoming_requests so honest peers never trip it).
    std::uint32_t advertised_reqq = 250;
    /// Bytes we let wait in a connection's send queue before serving more requests from it.
    std::uint32_t max_send_queue_bytes = 1U << 20U;
    /// Hash failures a peer may take part in before it is banned (smart ban catches the
    /// culprit of a re-downloaded piece at once).
    std::uint32_t ban_after_failures = 3;
    /// Duplicate (endgame) requests one peer may have outstanding.
    std::uint32_t max_endgame_duplicates = 4;
    /// Pieces picked at random before rarest-first takes over (libtorrent: 4).
    std::uint32_t random_first_pieces = 4;
    /// Zones (zone_roster.hpp): a peer in the same /24 or /64 as our side of its connection is
    /// in our zone; peers outside it are asked only for pieces no in-zone peer has, each piece
    /// by one member of the zone. False: every peer is treated alike.
    bool zone_aware = true;
    /// zone_aware: after this long without a fresh block, any member fetches any piece from
    /// outside (a member that cannot get its share there must not stall the zone).
    std::chrono::milliseconds zone_relax_after = 2s;
    /// Seeding policy; origin applies only to a torrent complete when it starts.
    seed_policy seeding = seed_policy::standard;
    /// origin: a piece that this many connected peers hold is no longer offered (K).
    std::uint32_t origin_copies = 2;
    /// Our listen port, announced in the BEP 10 handshake (0: not announced).
    std::uint16_t listen_port = 0;
    /// Threads that hash completed pieces, shared by every torrent given the same pool (a
    /// program makes one); null: the torrent (or session_group) makes its own, one thread per
    /// core.
    std::shared_ptr<io::worker_pool> hashing;
    /// Rate caps (rate_limiter.hpp) charged by every connection of the torrent, on any
    /// reactor thread; null: none.
    std::shared_ptr<const transfer_limits> limits;
    /// Connections shared with other torrents (an agent's global limit), taken before each
    /// dial or adoption on top of max_peers; null: none.
    std::shared_ptr<connection_budget> connections;
};

}  // namespace minibit::swarm
