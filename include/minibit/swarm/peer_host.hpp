// The seam between a peer connection and its torrent. peer_context is what every connection of a
// torrent reads and counts into, fixed for the torrent's life; peer_host is what a connection
// may ask and tell its torrent (at most one virtual call per message). torrent implements both;
// unit tests implement them with a small double to drive one connection's state machine.
// Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/rate_meter.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/torrent_stats.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

class peer_connection;

/// What the connections of one torrent share; the references point into their host, which
/// outlives its connections.
struct peer_context {
    io::reactor& reactor;
    const torrent_options& options;
    info_hash hash;
    wire::peer_id local_id;
    wire::torrent_bounds bounds;
    const bitfield& have;     ///< our verified pieces (all set: we are a seed)
    torrent_stats& counters;  ///< messages and bytes, counted by the connections
    rate_meter& down;         ///< the torrent's payload rates
    rate_meter& up;
    /// Blocks are served from it; a borrowed send's release callback keeps it (its mapping)
    /// alive until the kernel let go. May be null for a host that never serves.
    std::shared_ptr<storage::piece_store> store;
};

/// What a connection may ask and tell its torrent.
class peer_host {
public:
    peer_host(const peer_host&) = delete;
    peer_host& operator=(const peer_host&) = delete;

    /// The handshake named `id`: false refuses the peer (ourselves, banned, or a duplicate
    /// connection that loses; the host closes the other one when this one wins).
    [[nodiscard]] virtual bool accept_handshake(peer_connection& peer, const wire::peer_id& id) = 0;
    /// The peer announced all its pieces (BITFIELD, HAVE_ALL, HAVE_NONE): peer.has() now;
    /// `previous` is what it announced before (nullptr the first time), to be forgotten.
    virtual void on_bitfield(peer_connection& peer, const bitfield* previous) = 0;
    /// The peer announced one more piece.
    virtual void on_have(peer_connection& peer, piece_index piece) = 0;
    /// The peer's interest in us changed (peer.peer_interested() tells which way).
    virtual void on_interest_changed(peer_connection& peer) = 0;
    /// Up to `count` blocks to request from the peer next (claimed for it), none of `avoid`
    /// (blocks that timed out with this peer not long ago).
    [[nodiscard]] virtual std::vector<wire::block_ref> next_requests(
        peer_connection& peer, std::size_t count, std::span<const wire::block_ref> avoid) = 0;
    /// A block we asked for arrived; `data` is valid only during the call.
    virtual void on_block(peer_connection& peer, const wire::block_ref& block,
                          std::span<const std::uint8_t> data) = 0;
    /// A request will not be answered (REJECT, choke, timeout): the block is free again.
    virtual void on_request_dropped(peer_connection& peer, const wire::block_ref& block) = 0;
    /// A block went out to the peer (queued on its socket). Seeding policies that must know
    /// what a peer holds without its HAVEs (clients skip redundant ones) count these.
    virtual void on_served(peer_connection& /*peer*/, const wire::block_ref& /*block*/) {}
    /// A block could not be read for the peer (file truncated, I/O error).
    virtual void on_serve_failed(peer_connection& peer, const error& e) = 0;
    /// The connection is gone (the reactor confirmed the close); called once.
    virtual void on_closed(peer_connection& peer) = 0;

protected:
    peer_host() = default;
    ~peer_host() = default;
};

}  // namespace minibit::swarm
