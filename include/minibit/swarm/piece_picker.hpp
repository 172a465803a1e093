// Rarest-first piece picker for one torrent: availability per piece (bitfields, HAVEs, seeds,
// disconnects), which 16 KiB blocks are requested or received, random first pieces, endgame.
// Owned by one reactor (single thread, no locks). When several reactors serve one torrent, each
// has its own picker (its bucket index counts the peers of that reactor: a per-reactor pick
// cache) and they share a shared_pieces: a piece is claimed for one reactor with a CAS before
// its blocks are handed out there, so two reactors never download the same piece.
// Zones: the picker also counts which pieces peers of our own zone hold; a peer outside the zone
// is asked only for pieces no in-zone peer has and that our zone_roster says we fetch across.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/core/units.hpp"
#include "minibit/swarm/availability_buckets.hpp"
#include "minibit/swarm/shared_pieces.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// A connection's slot in its torrent; stable while the peer is connected.
using peer_slot = strong_index<struct peer_slot_tag, std::uint32_t>;

/// One 16 KiB block (the last block of the last piece may be shorter).
struct block_address {
    piece_index piece;
    block_index block;
    auto operator<=>(const block_address&) const = default;
};

struct picker_config {
    std::uint32_t random_first_pieces = 4;       ///< pick at random until we have this many
    std::uint32_t max_requesters_per_block = 2;  ///< endgame: peers asked for the same block
};

/// What happened when a block arrived.
struct block_arrival {
    bool fresh = false;             ///< false for duplicates and blocks of pieces we have
    bool piece_complete = false;    ///< every block of the piece is in: verify it now
    std::vector<peer_slot> cancel;  ///< other peers still asked for this block: send CANCEL
};

class zone_roster;

class piece_picker {
public:
    /// A picker for piece_count pieces of piece_length bytes, the last one last_piece_length.
    piece_picker(std::uint32_t piece_count, std::uint32_t piece_length,
                 std::uint32_t last_piece_length, picker_config config = {});

    /// A peer's BITFIELD: +1 availability on each piece it has (and +1 zone availability for
    /// a peer of our zone). O(pieces).
    void add_peer(const bitfield& peer_has, bool in_zone = false);
    /// A peer with that bitfield left: -1 availability on each piece it had.
    void remove_peer(const bitfield& peer_has, bool in_zone = false);
    /// A HAVE-ALL peer (or a full bitfield) joined: O(1), kept apart from the buckets.
    void add_seed(bool in_zone = false);
    /// A seed left: O(1).
    void remove_seed(bool in_zone = false);
    /// A HAVE for piece p: moves p one bucket up, O(1).
    void on_have(piece_index p, bool in_zone = false);

    /// Peers known to have piece p, seeds included.
    [[nodiscard]] std::uint32_t availability(piece_index p) const;
    /// Peers of our zone known to have piece p, seeds included.
    [[nodiscard]] std::uint32_t zone_availability(piece_index p) const;
    [[nodiscard]] std::uint32_t piece_count() const { return bounds_.piece_count; }
    [[nodiscard]] bool have(piece_index p) const { return have_.test(p); }
    [[nodiscard]] std::uint32_t have_count() const {
        return static_cast<std::uint32_t>(have_.count());
    }
    [[nodiscard]] bool complete() const { return have_.all(); }
    /// True once every block we lack is requested (or in): duplicates are then allowed.
    [[nodiscard]] bool in_endgame() const { return unrequested_blocks_ == 0 && !complete(); }

    /// Blocks in piece p.
    [[nodiscard]] std::uint32_t blocks_in(piece_index p) const;
    /// Byte length of block b (16 KiB except at the end of the torrent).
    [[nodiscard]] std::uint32_t block_length(block_address b) const;

    /// Up to count pieces the peer has that we need with unrequested blocks, best first:
    /// partly downloaded, then random (first pieces) or rarest with random ties. `across`
    /// non-null: the peer is outside our zone, and only pieces no in-zone peer has and that
    /// `across` says we fetch from outside qualify.
    [[nodiscard]] std::vector<piece_index> pick(const bitfield& peer_has, std::size_t count,
                                                std::mt19937_64& rng,
                                                const zone_roster* across = nullptr) const;
    /// Claims up to count blocks for peer, from pick(); in endgame, duplicates of blocks others
    /// requested (at most max_requesters_per_block peers per block), under the same zone rule.
    /// Never a block of `avoid` (sorted: blocks that timed out with this peer lately).
    [[nodiscard]] std::vector<block_address> request_blocks(
        peer_slot peer, const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
        const zone_roster* across = nullptr, std::span<const block_address> avoid = {});
    /// Records a received block and says whom to cancel and whether the piece is complete.
    [[nodiscard]] block_arrival on_block_received(peer_slot from, block_address b);
    /// A request the peer will not serve (REJECT, choke, timeout): the block is free again.
    void on_request_dropped(peer_slot peer, block_address b);
    /// The piece passed its hash check: we have it.
    void on_piece_passed(piece_index p);
    /// We already have piece p (resume): same as passed, without block state.
    void mark_have(piece_index p) { on_piece_passed(p); }
    /// The piece failed its hash check: all its blocks are free again.
    void on_piece_failed(piece_index p);
    /// The peer disconnected: returns the blocks it had requested to the picker (their list).
    std::vector<block_address> on_peer_gone(peer_slot peer);
    /// Hands the next download of piece p to `peer` alone (after a hash failure with several
    /// senders): no other peer is given its blocks until it passes or fails, or until `peer`
    /// drops one of its requests or goes. Either the piece then passes (and the smart ban can
    /// compare the earlier blocks with good data) or it fails with one sender, which proves it.
    void reserve(piece_index p, peer_slot peer);
    /// True when piece p is reserved for a peer other than `peer`.
    [[nodiscard]] bool reserved_for_other(piece_index p, peer_slot peer) const;

    /// Shares piece claims with the other reactors of the torrent: from now on a piece is
    /// picked only when unclaimed or held by `shard`, and claimed before its first block is
    /// handed out. `shared` must outlive the picker.
    void share(shared_pieces* shared, std::uint32_t shard) {
        shared_ = shared;
        shard_ = shard;
    }
    /// Pieces this picker claimed that no local peer is asked for now (candidates for release).
    [[nodiscard]] std::vector<piece_index> idle_claims() const;
    /// Gives up a claimed piece: its received blocks are forgotten and the claim released.
    void abandon(piece_index p);

    /// Peers that have an outstanding request for block b (tests, diagnostics).
    [[nodiscard]] std::vector<peer_slot> requesters(block_address b) const;

    /// Aborts (MINIBIT_ASSERT) when the bucket index, the block counts or the reservations
    /// disagree; O(pieces + blocks in progress). Unit tests call it; with -Dinvariants=full
    /// every mutation does.
    void check_invariants() const;

private:
    struct piece_progress {
        std::vector<std::vector<peer_slot>> requested_by;  ///< per block, empty when free
        std::vector<bool> received;
        std::uint32_t free_blocks = 0;  ///< neither requested nor received
        std::uint32_t received_blocks = 0;
    };

    [[nodiscard]] bool wanted(piece_index p, const bitfield& peer_has,
                              const zone_roster* across) const;
    [[nodiscard]] bool has_free_blocks(piece_index p) const;
    piece_progress& progress(piece_index p);
    [[nodiscard]] bool take_claim(piece_index p);
    void drop_claim(piece_index p);
    void claim(peer_slot peer, block_address b, piece_progress& pp);
    void release(peer_slot peer, block_address b, piece_progress& pp);
    void pick_random(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                     const zone_roster* across, std::vector<piece_index>& out) const;
    void pick_rarest(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                     const zone_roster* across, std::vector<piece_index>& out) const;
    /// What an endgame duplicate must respect: the zone rule and the peer's avoided blocks.
    struct duplicate_limits {
        const zone_roster* across = nullptr;
        std::span<const block_address> avoid;
    };
    void pick_duplicates(peer_slot peer, const bitfield& peer_has, std::size_t count,
                         duplicate_limits limits, std::vector<block_address>& out);
    /// Runs check_invariants() in -Dinvariants=full builds (after each mutation).
    void checked() const;
    void check_progress() const;

    wire::torrent_bounds bounds_;
    picker_config config_;
    bitfield have_;
    std::uint32_t seeds_ = 0;
    std::uint32_t zone_seeds_ = 0;
    std::vector<std::uint16_t> zone_have_;  ///< per piece: in-zone peers (not seeds) holding it
    availability_buckets buckets_;
    std::unordered_map<piece_index, piece_progress> downloading_;
    /// Pieces with an entry in downloading_: the pickers' scans over every piece test a bit
    /// instead of hashing each index (two lookups per piece per scan were ~3% of a swarm's CPU).
    bitfield started_;
    std::unordered_map<piece_index, peer_slot> reserved_;  ///< piece -> its only downloader
    std::uint64_t unrequested_blocks_ = 0;  ///< blocks of pieces we lack, neither asked nor in
    shared_pieces* shared_ = nullptr;       ///< null: this picker serves the whole torrent
    std::uint32_t shard_ = 0;
    std::vector<piece_index> claimed_;  ///< pieces we claimed in shared_, not yet verified
};

}  // namespace minibit::swarm
