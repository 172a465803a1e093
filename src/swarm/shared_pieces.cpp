#include "minibit/swarm/shared_pieces.hpp"

namespace minibit::swarm {

shared_pieces::shared_pieces(std::uint32_t piece_count)
    : piece_count_(piece_count),
      avail_(new std::atomic<std::uint32_t>[piece_count]),
      claims_(new std::atomic<std::uint32_t>[piece_count]) {
    for (std::uint32_t p = 0; p < piece_count; ++p) {
        avail_[p].store(0, std::memory_order_relaxed);
        claims_[p].store(unclaimed, std::memory_order_relaxed);
    }
}

void shared_pieces::add_bitfield(const bitfield& bits) {
    if (bits.size() != piece_count_) {
        return;
    }
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
        if (bits.test(piece_index{p})) {
            avail_[p].fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void shared_pieces::remove_bitfield(const bitfield& bits) {
    if (bits.size() != piece_count_) {
        return;
    }
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
        if (bits.test(piece_index{p})) {
            avail_[p].fetch_sub(1, std::memory_order_relaxed);
        }
    }
}

void shared_pieces::add_have(piece_index p) {
    if (p.get() < piece_count_) {
        avail_[p.get()].fetch_add(1, std::memory_order_relaxed);
    }
}

std::uint32_t shared_pieces::availability(piece_index p) const {
    if (p.get() >= piece_count_) {
        return 0;
    }
    return avail_[p.get()].load(std::memory_order_relaxed) + seeds();
}

bool shared_pieces::try_claim(piece_index p, std::uint32_t shard) {
    if (p.get() >= piece_count_) {
        return false;
    }
    std::uint32_t expected = unclaimed;
    const std::uint32_t mine = shard + 1;
    return claims_[p.get()].compare_exchange_strong(expected, mine, std::memory_order_acq_rel) ||
           expected == mine;
}

bool shared_pieces::claimable(piece_index p, std::uint32_t shard) const {
    if (p.get() >= piece_count_) {
        return false;
    }
    const std::uint32_t c = claims_[p.get()].load(std::memory_order_acquire);
    return c == unclaimed || c == shard + 1;
}

void shared_pieces::release(piece_index p, std::uint32_t shard) {
    if (p.get() >= piece_count_) {
        return;
    }
    std::uint32_t expected = shard + 1;
    (void)claims_[p.get()].compare_exchange_strong(expected, unclaimed, std::memory_order_acq_rel);
}

bool shared_pieces::mark_verified(piece_index p) {
    if (p.get() >= piece_count_) {
        return false;
    }
    if (claims_[p.get()].exchange(verified, std::memory_order_acq_rel) == verified) {
        return false;
    }
    verified_count_.fetch_add(1, std::memory_order_acq_rel);
    return true;
}

bool shared_pieces::is_verified(piece_index p) const {
    return p.get() < piece_count_ && claims_[p.get()].load(std::memory_order_acquire) == verified;
}

}  // namespace minibit::swarm
