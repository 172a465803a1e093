// One torrent's peers of one address family, stored compactly for the tracker's swarm table:
// a dense vector of fixed-size records (the compact wire endpoint first, so answers are memcpy)
// plus an open-addressing index endpoint -> slot for O(1) update and swap-remove.
// Owned by one swarm shard; one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace minibit::tracker {

/// splitmix64: a small, fast, well-mixed generator; each shard owns one, so no locks.
class fast_rng {
public:
    explicit fast_rng(std::uint64_t seed) : state_(seed) {}
    /// The next 64 random bits.
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }
    /// A value in [0, n); n > 0. The modulo bias is below 2^-32 for n < 2^32.
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

/// Peer state bits kept per record.
enum peer_flag : std::uint8_t { peer_seeder = 1U << 0U };

/// One peer: N bytes of compact endpoint (BEP 23: IPv4 6 bytes; BEP 7: IPv6 18 bytes), the
/// last announce time in 4-second ticks (wraps after ~72 h; expiry sweeps run far more often),
/// and flags. IPv4: 10 bytes.
template <std::size_t N>
struct peer_record {
    std::array<std::uint8_t, N> endpoint{};
    std::uint16_t seen_ticks = 0;
    std::uint8_t flags = 0;
};
static_assert(sizeof(peer_record<6>) == 10);
static_assert(sizeof(peer_record<18>) == 22);

/// Dense peer records plus an index; invariants: index_ holds each dense position exactly
/// once, capacity is a power of two, load <= 3/4.
template <std::size_t N>
class peer_list {
public:
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    using endpoint_type = std::array<std::uint8_t, N>;

    /// Number of peers.
    [[nodiscard]] std::size_t size() const { return peers_.size(); }
    /// The record at a dense position.
    [[nodiscard]] const peer_record<N>& at(std::size_t i) const { return peers_[i]; }
    /// Mutable record at a dense position (the endpoint must not change).
    [[nodiscard]] peer_record<N>& at(std::size_t i) { return peers_[i]; }
    /// Dense position of an endpoint, or npos.
    [[nodiscard]] std::size_t find(const endpoint_type& ep) const;
    /// Appends a record whose endpoint is not present; returns its dense position.
    std::size_t insert(const peer_record<N>& rec);
    /// Removes the record at a dense position; the last record moves into its place.
    void remove_at(std::size_t i);
    /// Appends up to k endpoints sampled at random (stratified, random rotation), never `self`.
    void sample(std::size_t self, std::size_t k, fast_rng& rng, std::vector<std::uint8_t>& out) const;
    /// Bytes of heap this list holds (records + index), for memory accounting.
    [[nodiscard]] std::size_t memory_bytes() const {
        return peers_.capacity() * sizeof(peer_record<N>) + index_.capacity() * sizeof(std::uint32_t);
    }

private:
    static constexpr std::uint32_t empty_slot = std::numeric_limits<std::uint32_t>::max();
    [[nodiscard]] std::size_t home(const endpoint_type& ep) const;
    [[nodiscard]] std::size_t slot_of(std::size_t dense) const;
    void rehash(std::size_t capacity);

    std::vector<peer_record<N>> peers_;
    std::vector<std::uint32_t> index_;  ///< dense positions, empty_slot when free
};

extern template class peer_list<6>;
extern template class peer_list<18>;

}  // namespace minibit::tracker
