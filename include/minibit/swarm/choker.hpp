// Tit-for-tat choker (BEP 3): a pure function from a snapshot of the torrent's peers (plain
// data: interest, rates, snubbed, connect time) to the set of peers to unchoke. Regular slots go
// to the best reciprocators (leeching); a seed's slots rotate among the interested peers, the
// longest waiting first; one optimistic slot rotates, new peers weighted 3x. Between rechokes,
// fill_slots() hands a slot freed by a peer that lost interest or completed to a waiting peer at
// once. Rotation state is passed in and returned. No clock or I/O inside: the caller supplies
// `now`. Any thread; no shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "minibit/core/units.hpp"

namespace minibit::swarm {

/// A connection's slot in its torrent (same type as in piece_picker.hpp).
using peer_slot = strong_index<struct peer_slot_tag, std::uint32_t>;

/// Whether we still download (tit-for-tat) or only seed (rank by our upload to them).
enum class choke_mode { leech, seed };

/// What the choker needs to know about one peer.
struct choker_peer {
    peer_slot id;
    bool interested = false;                    ///< the peer wants our pieces
    bool am_choking = true;                     ///< our current state toward it
    std::uint64_t download_rate = 0;            ///< bytes/s it sent us over the last window
    std::uint64_t upload_rate = 0;              ///< bytes/s we sent it over the last window
    bool snubbed = false;                       ///< it sent us nothing for the snub timeout
    std::chrono::milliseconds connected_at{0};  ///< on the caller's steady clock
    /// When we last choked or unchoked it (its connect time if never), same clock: how long a
    /// choked peer has waited, or how long an unchoked one has held its slot.
    std::chrono::milliseconds choke_changed_at{0};
    bool is_seed = false;
};

struct choker_config {
    std::uint32_t slots = 4;             ///< regular unchoke slots (BEP 3: 4)
    std::uint32_t optimistic_slots = 1;  ///< rotating slots on top of the regular ones
    /// BEP 3: 10 s avoids fibrillation; a LAN swarm may use far less.
    std::chrono::milliseconds rechoke_interval{10'000};
    std::uint32_t optimistic_every_rechokes = 3;  ///< BEP 3: optimistic rotates every 30 s
    /// Seeding: a regular slot is held this many rechoke intervals, then goes to the peer that
    /// has waited longest (a seed has no reciprocation to rank by; rotating spreads its pieces).
    std::uint32_t seed_hold_rechokes = 1;
};

/// Rotation state carried from one rechoke to the next.
struct choker_state {
    std::uint64_t round = 0;            ///< rechokes done so far
    std::vector<peer_slot> optimistic;  ///< current optimistic unchokes
    bool operator==(const choker_state&) const = default;
};

struct choke_decision {
    std::vector<peer_slot> unchoke;     ///< every peer to leave unchoked, sorted
    std::vector<peer_slot> optimistic;  ///< the subset unchoked optimistically
    std::vector<peer_slot> to_unchoke;  ///< currently choked, send UNCHOKE
    std::vector<peer_slot> to_choke;    ///< currently unchoked, send CHOKE
    choker_state next;                  ///< pass to the next rechoke
};

/// What fill_slots() changes between rechokes.
struct slot_fill {
    std::vector<peer_slot> to_choke;    ///< unchoked but not interested or complete: slot freed
    std::vector<peer_slot> to_unchoke;  ///< waiting interested peers given the free slots
};

/// Decides the unchoke set for one rechoke interval.
[[nodiscard]] choke_decision rechoke(std::span<const choker_peer> peers, choke_mode mode,
                                     const choker_config& config, const choker_state& state,
                                     std::chrono::milliseconds now, std::mt19937_64& rng);

/// Between rechokes: frees the slots of unchoked peers that are no longer interested or are
/// complete and gives every free slot (regular plus optimistic) to a waiting interested peer,
/// the best reciprocator first when leeching, the longest waiting first when seeding.
[[nodiscard]] slot_fill fill_slots(std::span<const choker_peer> peers, choke_mode mode,
                                   const choker_config& config);

}  // namespace minibit::swarm
