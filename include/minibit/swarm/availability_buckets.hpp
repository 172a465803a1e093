// The piece picker's availability index (libtorrent style): every piece sorted by how many peers
// have it, in buckets of equal availability, so a HAVE or a disconnect moves one piece one bucket
// in O(1) and the rarest pieces are the front of the array. Seeds are not counted here. Owned by
// one picker; one thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "minibit/core/units.hpp"

namespace minibit::swarm {

/// Pieces bucketed by availability.
class availability_buckets {
public:
    /// Every piece of `piece_count` at availability 0.
    explicit availability_buckets(std::uint32_t piece_count);

    /// One more peer has p: p moves one bucket up. O(1).
    void up(piece_index p);
    /// One peer fewer has p (p must be above 0): p moves one bucket down. O(1).
    void down(piece_index p);
    /// Peers counted for p.
    [[nodiscard]] std::uint32_t count(piece_index p) const { return avail_[p.get()]; }
    /// Number of buckets (highest availability + 1, at least 1).
    [[nodiscard]] std::size_t bucket_count() const { return bucket_start_.size() - 1; }
    /// The pieces of availability a, in no particular order.
    [[nodiscard]] std::span<const piece_index> bucket(std::size_t a) const {
        return {pieces_.data() + bucket_start_[a], bucket_start_[a + 1] - bucket_start_[a]};
    }
    /// Aborts (MINIBIT_ASSERT) unless pieces_ is a permutation matching pos_, the bucket edges
    /// rise from 0 to piece_count and each piece sits in the bucket of its count. O(pieces).
    void check_invariants() const;

private:
    // Bucket a holds pieces_[bucket_start_[a] .. bucket_start_[a + 1]); the last entry is
    // always the piece count. pos_[p] is p's position in pieces_; avail_[p] its count.
    std::vector<piece_index> pieces_;
    std::vector<std::uint32_t> pos_;
    std::vector<std::uint32_t> avail_;
    std::vector<std::uint32_t> bucket_start_;
};

}  // namespace minibit::swarm
