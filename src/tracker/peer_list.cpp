#include "minibit/tracker/peer_list.hpp"

#include <bit>

namespace minibit::tracker {

namespace {

constexpr std::size_t min_capacity = 8;

// Folds an endpoint into 64 bits and mixes it (splitmix64 finalizer).
template <std::size_t N>
std::uint64_t hash_endpoint(const std::array<std::uint8_t, N>& ep) {
    std::uint64_t h = 0x51af7c3a2d1b4e69ULL;
    for (std::size_t i = 0; i < N; i += 6) {
        std::uint64_t w = 0;
        for (std::size_t j = i; j < i + 6 && j < N; ++j) w = (w << 8U) | ep[j];
        h ^= w;
        h = (h ^ (h >> 31U)) * 0x7fb5d329728ea185ULL;
    }
    h = (h ^ (h >> 27U)) * 0x81dadef4bc2dd44dULL;
    return h ^ (h >> 33U);
}

}  // namespace

template <std::size_t N>
std::size_t peer_list<N>::home(const endpoint_type& ep) const {
    return static_cast<std::size_t>(hash_endpoint(ep)) & (index_.size() - 1);
}

template <std::size_t N>
std::size_t peer_list<N>::find(const endpoint_type& ep) const {
    if (index_.empty()) return npos;
    const std::size_t mask = index_.size() - 1;
    for (std::size_t s = home(ep);; s = (s + 1) & mask) {
        const std::uint32_t d = index_[s];
        if (d == empty_slot) return npos;
        if (peers_[d].endpoint == ep) return d;
    }
}

template <std::size_t N>
std::size_t peer_list<N>::slot_of(std::size_t dense) const {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t s = home(peers_[dense].endpoint);; s = (s + 1) & mask) {
        if (index_[s] == dense) return s;
    }
}

template <std::size_t N>
void peer_list<N>::rehash(std::size_t capacity) {
    index_ = std::vector<std::uint32_t>(capacity, empty_slot);  // assign() would keep the old capacity
    const std::size_t mask = capacity - 1;
    for (std::size_t d = 0; d < peers_.size(); ++d) {
        std::size_t s = home(peers_[d].endpoint);
        while (index_[s] != empty_slot) s = (s + 1) & mask;
        index_[s] = static_cast<std::uint32_t>(d);
    }
}

template <std::size_t N>
std::size_t peer_list<N>::insert(const peer_record<N>& rec) {
    const std::size_t d = peers_.size();
    peers_.push_back(rec);
    // Keep load <= 3/4 so linear probes stay short.
    if ((d + 1) * 4 > index_.size() * 3) {
        rehash(std::max(min_capacity, std::bit_ceil((d + 1) * 2)));
        return d;
    }
    const std::size_t mask = index_.size() - 1;
    std::size_t s = home(rec.endpoint);
    while (index_[s] != empty_slot) s = (s + 1) & mask;
    index_[s] = static_cast<std::uint32_t>(d);
    return d;
}

template <std::size_t N>
void peer_list<N>::remove_at(std::size_t i) {
    const std::size_t mask = index_.size() - 1;
    // Backward-shift deletion: no tombstones, probe chains stay exact.
    std::size_t hole = slot_of(i);
    for (std::size_t s = (hole + 1) & mask; index_[s] != empty_slot; s = (s + 1) & mask) {
        const std::size_t h = home(peers_[index_[s]].endpoint);
        // Move s into the hole unless its home lies cyclically in (hole, s].
        const bool stays = hole <= s ? (hole < h && h <= s) : (hole < h || h <= s);
        if (!stays) {
            index_[hole] = index_[s];
            hole = s;
        }
    }
    index_[hole] = empty_slot;
    const std::size_t last = peers_.size() - 1;
    if (i != last) {
        index_[slot_of(last)] = static_cast<std::uint32_t>(i);
        peers_[i] = peers_[last];
    }
    peers_.pop_back();
    // Shrink after heavy churn so an emptied swarm gives its memory back.
    if (index_.size() > min_capacity && peers_.size() * 8 < index_.size()) {
        peers_.shrink_to_fit();
        rehash(std::max(min_capacity, std::bit_ceil(peers_.size() * 2 + 1)));
    }
}

template <std::size_t N>
void peer_list<N>::sample(std::size_t self, std::size_t k, fast_rng& rng,
                          std::vector<std::uint8_t>& out) const {
    const std::size_t n = peers_.size() - (self != npos ? 1 : 0);
    auto append = [&](std::size_t v) {
        if (self != npos && v >= self) ++v;  // skip the asking peer
        out.insert(out.end(), peers_[v].endpoint.begin(), peers_[v].endpoint.end());
    };
    if (k >= n) {
        for (std::size_t v = 0; v < n; ++v) append(v);
        return;
    }
    // Stratified sampling from a random rotation: one peer from each of k equal strata, so
    // every peer has the same chance k/n and no two picks repeat (opentracker does the same).
    const std::size_t rot = rng.below(n);
    for (std::size_t i = 0; i < k; ++i) {
        const std::size_t lo = i * n / k;
        const std::size_t hi = (i + 1) * n / k;
        append((lo + rng.below(hi - lo) + rot) % n);
    }
}

template class peer_list<6>;
template class peer_list<18>;

}  // namespace minibit::tracker
