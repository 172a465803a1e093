// One torrent's peers of one address family, stored compactly for the tracker's swarm table:
// the records themselves form an open-addressing hash table keyed by the compact endpoint
// (Robin Hood linear probing, backward-shift deletion, no separate index), sized in 1.25x steps
// so an IPv4 peer costs 8 / load bytes, load kept in [0.3, 0.9] (about 8.9 to 11.1 bytes after
// growth, before the next). Slots come from a keyed hash of the endpoint: the swarm table draws
// the key at start, so spoofed UDP sources cannot aim at one probe chain. Lists above 256 slots
// asked for zone-split answers also keep a zone index (src/tracker/zone_index.hpp: peers grouped
// by zone: 12 bytes per peer and ~100 per zone). Owned by one swarm shard; one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "minibit/tracker/zone_map.hpp"

namespace minibit::tracker {

class zone_index;

/// Where a record sits in its list's zone index: its group and its place among the members.
struct zone_link {
    static constexpr std::uint32_t no_group = 0xffffffffU;
    std::uint32_t group = no_group;
    std::uint32_t pos = 0;
};

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
    /// A value in [0, n); n > 0. Multiply-shift for n < 2^32 (no division; bias below
    /// n / 2^32), modulo above.
    std::size_t below(std::size_t n) {
        if (n <= 0xffffffffU) return static_cast<std::size_t>(((next() >> 32U) * n) >> 32U);
        return static_cast<std::size_t>(next() % n);
    }

private:
    std::uint64_t state_;
};

/// A peer's 15-bit time stamp, 1..stamp_period (0 marks an empty slot): a tick count modulo
/// stamp_period, plus one. Ages are exact while below stamp_period ticks.
inline constexpr std::uint16_t stamp_period = 32767;
/// The stamp of a tick count.
[[nodiscard]] constexpr std::uint16_t stamp_of(std::uint64_t tick) {
    return static_cast<std::uint16_t>(tick % stamp_period + 1);
}
/// Ticks from stamp `then` to stamp `now` (modulo stamp_period).
[[nodiscard]] constexpr std::uint16_t stamp_age(std::uint16_t now, std::uint16_t then) {
    return static_cast<std::uint16_t>((now + stamp_period - then) % stamp_period);
}

/// One slot: N bytes of compact endpoint (BEP 23: IPv4 6 bytes; BEP 7: IPv6 18 bytes) and a
/// state word, (stamp << 1) | seeder, 0 when the slot is empty. IPv4: 8 bytes, IPv6: 20.
template <std::size_t N>
struct peer_record {
    std::array<std::uint8_t, N> endpoint{};
    std::uint16_t state = 0;

    [[nodiscard]] bool empty() const { return state == 0; }
    [[nodiscard]] bool seeder() const { return (state & 1U) != 0; }
    [[nodiscard]] std::uint16_t stamp() const { return static_cast<std::uint16_t>(state >> 1U); }
    /// Sets the stamp (1..stamp_period) and the seeder bit.
    void set(std::uint16_t stamp, bool is_seeder) {
        state = static_cast<std::uint16_t>((stamp << 1U) | (is_seeder ? 1U : 0U));
    }
};
static_assert(sizeof(peer_record<6>) == 8);
static_assert(sizeof(peer_record<18>) == 20);

/// How sample_zoned splits an answer: about local_share of it from the zone of the asker's
/// address (4 or 16 bytes), the rest from other zones. A null map or a share of 0: no split.
struct zone_split {
    const zone_map* map = nullptr;
    std::span<const std::uint8_t> asker;
    double local_share = 0.75;
};

/// The peer table. Invariants: size() < capacity() < 2^32 (an empty slot ends every probe);
/// each record sits at or after its home slot, Robin Hood ordered; slot positions returned by
/// find and insert stay valid until the next insert or removal.
template <std::size_t N>
class peer_list {
public:
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    using endpoint_type = std::array<std::uint8_t, N>;
    using record_type = peer_record<N>;

    /// An empty list whose slots follow `hash_key` (the swarm table passes its random one).
    explicit peer_list(std::uint32_t hash_key = 0);
    ~peer_list();
    peer_list(peer_list&&) noexcept;
    peer_list& operator=(peer_list&&) noexcept;
    peer_list(const peer_list&) = delete;
    peer_list& operator=(const peer_list&) = delete;

    /// Number of peers.
    [[nodiscard]] std::size_t size() const { return size_; }
    /// Number of slots (0 until the first insert).
    [[nodiscard]] std::size_t capacity() const { return slots_.size(); }
    /// The record at a slot (may be empty).
    [[nodiscard]] const record_type& at(std::size_t slot) const { return slots_[slot]; }
    /// Mutable record at a slot (change the state, never the endpoint).
    [[nodiscard]] record_type& at(std::size_t slot) { return slots_[slot]; }
    /// Slot of an endpoint, or npos.
    [[nodiscard]] std::size_t find(const endpoint_type& ep) const;
    /// Adds an endpoint that is not present with a non-zero state; returns its slot. `zones`:
    /// the map answers are split by, which keeps the zone index current (null or another map:
    /// the index is dropped and rebuilt at the next zone-split answer).
    std::size_t insert(const endpoint_type& ep, std::uint16_t state,
                       const zone_map* zones = nullptr);
    /// Removes the record at an occupied slot; the table may shrink.
    void remove_at(std::size_t slot);
    /// Removes every record for which drop(record) is true, each record visited once; the
    /// table may shrink afterwards. Returns the number removed.
    template <class Pred>
    std::size_t remove_if(Pred drop);
    /// Appends up to k endpoints, a uniform random k-subset of the peers other than the one
    /// at slot `self` (npos: none excluded), without repeats.
    void sample(std::size_t self, std::size_t k, fast_rng& rng,
                std::vector<std::uint8_t>& out) const;
    /// Like sample(), but round(local_share x k) of the endpoints come from the asker's zone and the
    /// rest from other zones, each part a uniform sample of its side; a side with too few peers
    /// leaves its places to the other; below a share of 1 at least one place is for other
    /// zones. Lists up to 256 slots classify every peer; bigger ones sample from their zone
    /// index, built here on first use for split.map (the map must outlive the list's index, or
    /// be replaced by a map with another serial before the next mutation; the tracker keeps every
    /// map it loaded).
    void sample_zoned(std::size_t self, std::size_t k, const zone_split& split, fast_rng& rng,
                      std::vector<std::uint8_t>& out);
    /// Whether the list holds a zone index (for tests and diagnostics).
    [[nodiscard]] bool has_zone_index() const { return index_ != nullptr; }
    /// The longest distance of a record from its home slot (0 when empty): the probe length
    /// bound of find and insert. O(capacity); for tests and diagnostics.
    [[nodiscard]] std::size_t longest_probe() const;
    /// Bytes of heap this list holds (records and zone index), for memory accounting.
    [[nodiscard]] std::size_t memory_bytes() const;
    /// Checks (MINIBIT_ASSERT) the count, the load bounds, the Robin Hood order (a record after
    /// an empty slot is at home; along a run the distance from home grows by at most one), the
    /// stamps, that find() reaches every record, and the zone index if there is one (every record
    /// a member of its group, zone_index.hpp). O(capacity x longest probe); run by the unit
    /// tests, and after every mutation with -Dinvariants=full (lists above 1024 slots then check
    /// only the run of records the mutation touched, so a big swarm stays usable).
    void check_invariants() const;

private:
    [[nodiscard]] std::size_t home(const endpoint_type& ep) const;
    [[nodiscard]] std::size_t next(std::size_t s) const {
        return s + 1 == slots_.size() ? 0 : s + 1;
    }
    [[nodiscard]] std::size_t distance(std::size_t s) const;
    void erase_slot(std::size_t s);
    std::size_t place(record_type rec, zone_link carried);
    void resize(std::size_t slots);
    void shrink_if_sparse();
    void sample_by_walk(std::size_t self, std::size_t k, fast_rng& rng,
                        std::vector<std::uint8_t>& out) const;
    /// The asker's zone and the share of the answer from it, for the helpers below.
    struct zone_side {
        const zone_map* map;
        zone_id home;
        std::size_t local;  ///< places for peers of `home`
        /// Leading address bytes that decide the zone when the map has no prefix for the
        /// family (3: the /24, 8: the /64), else 0 (ask the map); `asker` holds them.
        std::size_t net_bytes;
        std::span<const std::uint8_t> asker;
    };
    [[nodiscard]] bool in_zone(std::size_t s, const zone_side& z) const;
    void zoned_walk(std::size_t self, std::size_t k, const zone_side& z, fast_rng& rng,
                    std::vector<std::uint8_t>& out) const;
    void build_index(const zone_map& map);
    void zoned_indexed(std::size_t self, std::size_t k, const zone_side& z, fast_rng& rng,
                       std::vector<std::uint8_t>& out) const;
    std::size_t sample_members(std::span<const std::uint32_t> members, std::size_t skip,
                               std::size_t want, fast_rng& rng, std::uint8_t* dst) const;
    std::size_t sample_others(std::uint32_t group, std::size_t self, std::size_t want,
                              std::size_t avail, fast_rng& rng, std::uint8_t* dst) const;
    void check_index() const;
    /// With -Dinvariants=full: check_invariants(), or for a big list the run around `slot`
    /// (npos: the whole list). Nothing otherwise.
    void after_mutation(std::size_t slot) const;
    void check_run(std::size_t slot) const;  ///< the Robin Hood order of the run holding `slot`

    std::vector<record_type> slots_;
    std::uint32_t size_ = 0;  ///< 32 bits (capacity < 2^32) so the key costs no list bytes
    std::uint32_t key_;       ///< mixed into every endpoint hash
    std::unique_ptr<zone_index> index_;  ///< zones of a big list; null until a zoned answer
};

template <std::size_t N>
template <class Pred>
std::size_t peer_list<N>::remove_if(Pred drop) {
    if (size_ == 0) return 0;
    // Start just after an empty slot: backward shifts then only move records not yet visited.
    std::size_t start = 0;
    while (!slots_[start].empty()) ++start;
    std::size_t removed = 0;
    std::size_t s = next(start);
    for (std::size_t visited = 1; visited < slots_.size();) {
        if (!slots_[s].empty() && drop(static_cast<const record_type&>(slots_[s]))) {
            erase_slot(s);  // the next record (if any) shifted into s: look at s again
            ++removed;
        } else {
            s = next(s);
            ++visited;
        }
    }
    shrink_if_sparse();
    after_mutation(npos);
    return removed;
}

extern template class peer_list<6>;
extern template class peer_list<18>;

}  // namespace minibit::tracker
