// What the reactors serving one torrent share, all lock-free: exact availability per piece
// (atomic counters: +1 per peer bitfield bit or HAVE, -1 on disconnect; seeds apart), the owner of
// each piece being downloaded (a CAS claims a free piece for one reactor, whose picker then hands
// out its blocks), and the count of verified pieces. Any thread; memory order relaxed for the
// counters, acquire/release for claims and verification.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "minibit/core/bitfield.hpp"
#include "minibit/core/units.hpp"

namespace minibit::swarm {

class shared_pieces {
public:
    /// Claim word values besides shard + 1.
    static constexpr std::uint32_t unclaimed = 0;
    static constexpr std::uint32_t verified = 0xffffffffU;

    explicit shared_pieces(std::uint32_t piece_count);

    [[nodiscard]] std::uint32_t piece_count() const { return piece_count_; }

    /// A peer's bitfield joined (+1 on each piece it has) or left (-1).
    void add_bitfield(const bitfield& bits);
    void remove_bitfield(const bitfield& bits);
    /// A HAVE: +1 on one piece.
    void add_have(piece_index p);
    /// A seed (HAVE-ALL or a full bitfield) joined or left: one counter for all pieces.
    void add_seed() { seeds_.fetch_add(1, std::memory_order_relaxed); }
    void remove_seed() { seeds_.fetch_sub(1, std::memory_order_relaxed); }
    /// Peers on any reactor known to have piece p, seeds included.
    [[nodiscard]] std::uint32_t availability(piece_index p) const;
    [[nodiscard]] std::uint32_t seeds() const { return seeds_.load(std::memory_order_relaxed); }

    /// Claims piece p for `shard` when nobody holds it; true when `shard` holds it after the
    /// call (also when it already did).
    [[nodiscard]] bool try_claim(piece_index p, std::uint32_t shard);
    /// True when p is unclaimed or held by `shard` (worth picking there).
    [[nodiscard]] bool claimable(piece_index p, std::uint32_t shard) const;
    /// Gives up `shard`'s claim on p (no-op when someone else holds it or it is verified).
    void release(piece_index p, std::uint32_t shard);
    /// Marks p verified (final); true the first time.
    bool mark_verified(piece_index p);
    [[nodiscard]] bool is_verified(piece_index p) const;
    [[nodiscard]] std::uint32_t verified_count() const {
        return verified_count_.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool complete() const { return verified_count() == piece_count_; }

private:
    std::uint32_t piece_count_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> avail_;  ///< per piece, without seeds
    std::unique_ptr<std::atomic<std::uint32_t>[]>
        claims_;  ///< per piece: unclaimed, shard+1, verified
    std::atomic<std::uint32_t> seeds_{0};
    std::atomic<std::uint32_t> verified_count_{0};
};

}  // namespace minibit::swarm
