// The origin's seeding plan (`seed --origin`): which pieces a seed that wants to upload each
// piece about once announces to which peer. Like BEP 16 super-seeding it works with HAVEs only,
// so stock clients need nothing special: the origin shows each peer a few pieces at a time, the
// pieces offered least often (then the rarest) first, so every piece goes out once before any
// goes out twice. A piece already sent is offered again only when it has not spread: fewer than
// K connected peers hold it a spread window after the first did. Not at all once K hold it,
// except to a peer that made no progress for a while (it has no other source). Pure: plain data in, piece
// lists out; the caller supplies the clock and the copy counts. One thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/swarm/choker.hpp"

namespace minibit::swarm {

struct origin_config {
    std::uint32_t copies = 2;  ///< K: a piece held by K peers is no longer offered
    /// Pieces shown to a peer and not yet taken by it, at most: enough to keep its requests
    /// flowing while its HAVE for the last one travels back (two pieces cover one round trip).
    std::uint32_t offers_per_peer = 2;
    /// A peer without a new piece for this long gets pieces regardless of K.
    std::chrono::milliseconds starve_after{3000};
    /// A piece sent once is sent again only if fewer than K peers hold it this long after the
    /// first did (the peers had time to pass it on).
    std::chrono::milliseconds spread_window{1000};
};

/// Offers made and owed, per piece and per peer.
class origin_plan {
public:
    /// Copies held by the connected peers, per piece.
    using copies_fn = std::function<std::uint32_t(piece_index)>;

    origin_plan(std::uint32_t piece_count, const origin_config& config);

    /// A peer that connected at `since` (no-op when already known).
    void add_peer_once(peer_slot peer, std::chrono::milliseconds since);
    /// The peer is gone; the pieces offered to it that it never took count as not offered.
    void remove_peer(peer_slot peer, const bitfield& has);
    /// A block of piece p went out to the peer, which holds `blocks` in all: once every block
    /// went out the piece counts as taken (a client need not send HAVE to whom it got it from).
    /// True when that completed a shown piece.
    bool on_block_served(peer_slot peer, piece_index p, std::uint32_t blocks);
    /// The peer announced a new piece at `now`.
    void on_progress(peer_slot peer, std::chrono::milliseconds now);
    /// The pieces to announce to `peer` now (it holds `has`); recorded as offered.
    [[nodiscard]] std::vector<piece_index> offers(peer_slot peer, const bitfield& has,
                                                  const copies_fn& copies,
                                                  std::chrono::milliseconds now,
                                                  std::mt19937_64& rng);
    /// How many peers piece p has been offered to (those gone without it not counted).
    [[nodiscard]] std::uint32_t times_offered(piece_index p) const { return offered_.at(p.get()); }

private:
    struct peer_state {
        bitfield shown;                               ///< pieces announced to it
        bitfield taken;                               ///< pieces we sent it in full
        std::map<piece_index, std::uint32_t> served;  ///< blocks sent of pieces not yet taken
        std::chrono::milliseconds last_progress{0};
    };

    origin_config config_;
    std::uint32_t piece_count_;
    std::vector<std::uint32_t> offered_;
    std::vector<std::chrono::milliseconds> seen_at_;  ///< first seen held by a peer (0: not yet)
    std::map<peer_slot, peer_state> peers_;
};

}  // namespace minibit::swarm
