#include "minibit/swarm/availability_buckets.hpp"

#include <utility>

#include "minibit/core/assert.hpp"

namespace minibit::swarm {

availability_buckets::availability_buckets(std::uint32_t piece_count)
    : pieces_(piece_count),
      pos_(piece_count),
      avail_(piece_count, 0),
      bucket_start_{0, piece_count} {
    for (std::uint32_t p = 0; p < piece_count; ++p) {
        pieces_[p] = piece_index{p};
        pos_[p] = p;
    }
}

void availability_buckets::up(piece_index p) {
    const std::uint32_t a = avail_[p.get()];
    if (a + 2 >= bucket_start_.size()) {
        bucket_start_.push_back(static_cast<std::uint32_t>(pieces_.size()));
    }
    // Swap p with the last piece of bucket a, then move the edge of bucket a+1 down over it.
    const std::uint32_t last = bucket_start_[a + 1] - 1;
    const piece_index other = pieces_[last];
    std::swap(pieces_[pos_[p.get()]], pieces_[last]);
    pos_[other.get()] = pos_[p.get()];
    pos_[p.get()] = last;
    --bucket_start_[a + 1];
    ++avail_[p.get()];
}

void availability_buckets::down(piece_index p) {
    const std::uint32_t a = avail_[p.get()];
    MINIBIT_ASSERT(a > 0, "availability below zero");
    // Swap p with the first piece of bucket a, then move the edge of bucket a up past it.
    const std::uint32_t first = bucket_start_[a];
    const piece_index other = pieces_[first];
    std::swap(pieces_[pos_[p.get()]], pieces_[first]);
    pos_[other.get()] = pos_[p.get()];
    pos_[p.get()] = first;
    ++bucket_start_[a];
    --avail_[p.get()];
}

void availability_buckets::check_invariants() const {
    const auto n = static_cast<std::uint32_t>(pieces_.size());
    MINIBIT_ASSERT(pos_.size() == n && avail_.size() == n, "parallel arrays differ in size");
    MINIBIT_ASSERT(
        bucket_start_.size() >= 2 && bucket_start_.front() == 0 && bucket_start_.back() == n,
        "bucket edges do not span the pieces");
    for (std::size_t a = 0; a + 1 < bucket_start_.size(); ++a) {
        MINIBIT_ASSERT(bucket_start_[a] <= bucket_start_[a + 1], "bucket edges out of order");
        for (std::uint32_t i = bucket_start_[a]; i < bucket_start_[a + 1]; ++i) {
            const std::uint32_t p = pieces_[i].get();
            MINIBIT_ASSERT(p < n && pos_[p] == i, "pieces_ and pos_ disagree");
            MINIBIT_ASSERT(avail_[p] == a, "piece in the wrong availability bucket");
        }
    }
}

}  // namespace minibit::swarm
