#include "minibit/tracker/peer_list.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <span>

#include "minibit/core/assert.hpp"
#include "peer_list_load.hpp"
#include "zone_index.hpp"

namespace minibit::tracker {

using peer_list_load::max_load_tenths;
using peer_list_load::min_load_tenths;
using peer_list_load::min_slots;
using peer_list_load::shrink_to_load_tenths;

namespace {

/// -Dinvariants=full: lists up to this many slots are checked whole after each mutation.
constexpr std::size_t full_check_max_slots = 1024;
/// Above this many picks, sampling walks the table instead of rejecting (bounds the stack set).
constexpr std::size_t max_rejection_picks = 256;
/// Zone-split answers from lists up to this many slots classify every peer (exact shares).
constexpr std::size_t zoned_walk_max_slots = 256;

// Folds an endpoint, 6 bytes at a time, into 64 well-mixed bits that depend on `key`.
// Hash flooding: with a fixed function, anyone who can announce (UDP sources are spoofable)
// could precompute endpoints sharing one home slot and make every probe of a swarm walk a long
// chain. The key, drawn at process start, enters the state before and after each word, and the multiply /
// xor-shift rounds carry it non-linearly, so which endpoints collide differs per process. It is
// not a cryptographic PRF (SipHash would cost ~10x per probe, and distance() hashes a record
// at every probe step); it only has to make the layout unknowable from outside.
template <std::size_t N>
std::uint64_t hash_endpoint(const std::array<std::uint8_t, N>& ep, std::uint32_t key) {
    const std::uint64_t k = (std::uint64_t{key} | (std::uint64_t{key} << 32U)) ^
                            0x51af7c3a2d1b4e69ULL;
    std::uint64_t h = k;
    for (std::size_t i = 0; i < N; i += 6) {
        std::uint64_t w = 0;
        std::memcpy(&w, ep.data() + i, std::min<std::size_t>(6, N - i));
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h = (h ^ (h >> 29U)) ^ k;
    }
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32U);
}

// A small open-addressing set of slot numbers, on the stack: the picks of one sample.
class pick_set {
public:
    explicit pick_set(std::size_t k) : mask_(std::bit_ceil(k * 4) - 1) {
        std::fill_n(cells_.begin(), mask_ + 1, empty_cell);
    }
    /// Adds s; false when it was already there.
    bool add(std::size_t s) {
        const auto v = static_cast<std::uint32_t>(s);
        for (std::size_t c = static_cast<std::size_t>(v * 0x9e3779b1U) & mask_;;
             c = (c + 1) & mask_) {
            if (cells_[c] == v) return false;
            if (cells_[c] == empty_cell) {
                cells_[c] = v;
                return true;
            }
        }
    }

private:
    static constexpr std::uint32_t empty_cell = 0xffffffffU;
    std::size_t mask_;
    std::array<std::uint32_t, max_rejection_picks * 4> cells_;
};

// Uniform rejection probes: a random slot until it holds a peer not picked yet, copied to
// dst[got]; until k are out or the budget (64k + 64 tries, never reached in practice) ends.
// Returns the new count.
template <std::size_t N, typename Slots>
std::size_t probe_fill(const Slots& slots, std::size_t self, std::size_t k, fast_rng& rng,
                       pick_set& picked, std::uint8_t* dst, std::size_t got) {
    for (std::size_t tries = 0; got < k && tries < 64 * k + 64; ++tries) {
        const std::size_t s = rng.below(slots.size());
        if (s == self || slots[s].empty() || !picked.add(s)) continue;
        std::memcpy(dst + got * N, slots[s].endpoint.data(), N);
        ++got;
    }
    return got;
}

}  // namespace

template <std::size_t N>
peer_list<N>::peer_list(std::uint32_t hash_key) : key_(hash_key) {}
template <std::size_t N>
peer_list<N>::~peer_list() = default;
template <std::size_t N>
peer_list<N>::peer_list(peer_list&&) noexcept = default;
template <std::size_t N>
peer_list<N>& peer_list<N>::operator=(peer_list&&) noexcept = default;

template <std::size_t N>
std::size_t peer_list<N>::memory_bytes() const {
    return slots_.capacity() * sizeof(record_type) + (index_ ? index_->memory_bytes() : 0);
}

template <std::size_t N>
std::size_t peer_list<N>::home(const endpoint_type& ep) const {
    // Multiply-shift maps the hash onto [0, slots) without a division (slots < 2^32).
    return static_cast<std::size_t>(((hash_endpoint(ep, key_) >> 32U) * slots_.size()) >> 32U);
}

template <std::size_t N>
std::size_t peer_list<N>::distance(std::size_t s) const {
    const std::size_t h = home(slots_[s].endpoint);
    return s >= h ? s - h : s + slots_.size() - h;
}

template <std::size_t N>
std::size_t peer_list<N>::longest_probe() const {
    std::size_t longest = 0;
    for (std::size_t s = 0; s < slots_.size(); ++s) {
        if (!slots_[s].empty()) longest = std::max(longest, distance(s));
    }
    return longest;
}

template <std::size_t N>
std::size_t peer_list<N>::find(const endpoint_type& ep) const {
    if (size_ == 0) return npos;
    std::size_t s = home(ep);
    for (std::size_t d = 0;; ++d, s = next(s)) {
        const record_type& r = slots_[s];
        if (r.empty()) return npos;
        if (r.endpoint == ep) return s;
        if (distance(s) < d) return npos;  // Robin Hood: ep would sit before this record
    }
}

template <std::size_t N>
std::size_t peer_list<N>::place(record_type rec, zone_link carried) {
    // With a zone index, `carried` is the link of the record in hand: it travels with it.
    std::size_t landed = npos;  // where the record given settles
    std::size_t s = home(rec.endpoint);
    for (std::size_t d = 0;; ++d, s = next(s)) {
        record_type& r = slots_[s];
        if (r.empty()) {
            r = rec;
            if (index_) {
                index_->at(s) = carried;
                index_->settle(s);
            }
            return landed == npos ? s : landed;
        }
        if (const std::size_t rd = distance(s); rd < d) {
            std::swap(rec, r);  // take from the rich: the displaced record moves on
            if (index_) {
                std::swap(carried, index_->at(s));
                index_->settle(s);
            }
            d = rd;
            if (landed == npos) landed = s;
        }
    }
}

template <std::size_t N>
void peer_list<N>::resize(std::size_t slots) {
    index_.reset();  // rebuilt at the next zone-split answer (resizes are geometric: amortised)
    std::vector<record_type> old(slots, record_type{});
    old.swap(slots_);
    for (const record_type& r : old) {
        if (!r.empty()) (void)place(r, zone_link{});
    }
}

template <std::size_t N>
std::size_t peer_list<N>::insert(const endpoint_type& ep, std::uint16_t state,
                                 const zone_map* zones) {
    const std::size_t grown = std::size_t{size_} + 1;
    const bool grow = grown * 10 > slots_.size() * max_load_tenths;
    if (grow) {
        resize(std::max(
            {min_slots, slots_.size() + slots_.size() / 4, grown * 10 / max_load_tenths + 2}));
    }
    zone_link carried;
    if (index_ && zones != nullptr && zones->serial() == index_->serial()) {
        carried = index_->join(zones->zone_of(std::span(ep).first(N - 2)));
    } else {
        index_.reset();
    }
    record_type rec;
    rec.endpoint = ep;
    rec.state = state;
    ++size_;
    const std::size_t slot = place(rec, carried);
    after_mutation(grow ? npos : home(ep));  // place() only moved records of the run from home
    return slot;
}

template <std::size_t N>
void peer_list<N>::erase_slot(std::size_t s) {
    // Backward-shift deletion: pull each following displaced record one slot back (and its
    // zone link with it).
    if (index_) index_->leave(s);
    for (;;) {
        const std::size_t n = next(s);
        if (slots_[n].empty() || distance(n) == 0) {
            slots_[s] = record_type{};
            break;
        }
        slots_[s] = slots_[n];
        if (index_) {
            index_->at(s) = index_->at(n);
            index_->settle(s);
        }
        s = n;
    }
    --size_;
}

template <std::size_t N>
void peer_list<N>::shrink_if_sparse() {
    const std::size_t n = size_;
    if (n == 0) {
        std::vector<record_type>().swap(slots_);  // an emptied swarm gives its memory back
        index_.reset();
    } else if (slots_.size() > min_slots && n * 10 < slots_.size() * min_load_tenths) {
        resize(std::max(min_slots, n * 10 / shrink_to_load_tenths + 2));
    }
}

template <std::size_t N>
void peer_list<N>::remove_at(std::size_t slot) {
    const std::size_t before = slots_.size();
    erase_slot(slot);
    shrink_if_sparse();
    after_mutation(slots_.size() == before ? slot : npos);
}

template <std::size_t N>
void peer_list<N>::after_mutation(std::size_t slot) const {
    if constexpr (MINIBIT_INVARIANTS_FULL) {
        if (slot == npos || slots_.size() <= full_check_max_slots) {
            check_invariants();
        } else {
            check_run(slot);
        }
    }
}

template <std::size_t N>
void peer_list<N>::sample(std::size_t self, std::size_t k, fast_rng& rng,
                          std::vector<std::uint8_t>& out) const {
    const std::size_t n = size_ - (self != npos ? 1 : 0);
    k = std::min(k, n);
    if (k == 0) return;
    if (k == n) {  // everyone else: no randomness needed
        const std::size_t base = out.size();
        out.resize(base + k * N);
        std::uint8_t* dst = out.data() + base;
        for (std::size_t s = 0; s < slots_.size(); ++s) {
            if (s == self || slots_[s].empty()) continue;
            std::memcpy(dst, slots_[s].endpoint.data(), N);
            dst += N;
        }
        return;
    }
    if (k * 2 > n || k > max_rejection_picks) {
        sample_by_walk(self, k, rng, out);
        return;
    }
    // Rejection: a uniform slot until it holds a peer not picked yet. The load is >= 0.3 and
    // k <= n/2, so a try succeeds with probability >= 0.15; the budget is never reached in
    // practice and only bounds the loop.
    const std::size_t base = out.size();
    out.resize(base + k * N);
    std::uint8_t* dst = out.data() + base;
    pick_set picked(k);
    const std::size_t got = probe_fill<N>(slots_, self, k, rng, picked, dst, 0);
    out.resize(base + got * N);
}

template <std::size_t N>
void peer_list<N>::sample_by_walk(std::size_t self, std::size_t k, fast_rng& rng,
                                  std::vector<std::uint8_t>& out) const {
    // Selection sampling (Knuth's algorithm S): take each peer with probability
    // needed / remaining; every k-subset is equally likely.
    // Branch-free body: every slot's endpoint is copied to the next output position, which
    // only advances when the slot is taken (the output has one record of slack for that).
    std::size_t needed = k;
    std::size_t remaining = size_ - (self != npos ? 1 : 0);
    const std::size_t base = out.size();
    out.resize(base + (k + 1) * N);
    std::uint8_t* dst = out.data() + base;
    for (std::size_t s = 0; s < slots_.size() && needed > 0; ++s) {
        const std::size_t live = !slots_[s].empty() && s != self ? 1 : 0;
        const std::size_t take = live & (rng.below(remaining + 1 - live) < needed ? 1U : 0U);
        std::memcpy(dst, slots_[s].endpoint.data(), N);
        dst += take * N;
        needed -= take;
        remaining -= live;
    }
    out.resize(base + k * N);
}

template <std::size_t N>
bool peer_list<N>::in_zone(std::size_t s, const zone_side& z) const {
    if (z.net_bytes != 0 && z.asker.size() == N - 2) {
        // A byte loop, not memcmp: 3 or 8 bytes per peer of every answer, a call each was 4% of
        // a paced UDP load's tracker CPU.
        const std::uint8_t* ep = slots_[s].endpoint.data();
        bool same = true;
        for (std::size_t i = 0; i < z.net_bytes; ++i) same &= ep[i] == z.asker[i];
        return same;
    }
    return z.map->zone_of(std::span(slots_[s].endpoint).first(N - 2)) == z.home;
}

template <std::size_t N>
void peer_list<N>::sample_zoned(std::size_t self, std::size_t k, const zone_split& split,
                                fast_rng& rng, std::vector<std::uint8_t>& out) {
    const std::size_t n = size_ - (self != npos ? 1 : 0);
    k = std::min(k, n);
    if (split.map == nullptr || split.local_share <= 0.0 || k == n) {
        sample(self, k, rng, out);  // no split, or everyone: zones change nothing
        return;
    }
    // Below a share of 1, at least one place goes to other zones, so zones stay connected.
    const std::size_t most = split.local_share < 1.0 && k >= 2 ? k - 1 : k;
    const auto share = std::lround(split.local_share * static_cast<double>(k));
    // Without a prefix for the family, a peer shares the asker's zone iff it shares its /24 or
    // /64: the walk compares those bytes instead of asking the map for every peer.
    const std::size_t net_bytes = split.map->has_prefixes(N - 2) ? 0 : (N == 6 ? 3 : 8);
    const zone_side z{split.map, split.map->zone_of(split.asker),
                      std::min(most, static_cast<std::size_t>(share)), net_bytes, split.asker};
    if (slots_.size() <= zoned_walk_max_slots) {
        zoned_walk(self, k, z, rng, out);
        return;
    }
    if (!index_ || index_->serial() != split.map->serial()) build_index(*split.map);
    zoned_indexed(self, k, z, rng, out);
}

template <std::size_t N>
void peer_list<N>::zoned_walk(std::size_t self, std::size_t k, const zone_side& z, fast_rng& rng,
                              std::vector<std::uint8_t>& out) const {
    // Each live slot's side (1 local, 0 other, 2 none), then selection sampling on each side:
    // a peer is taken with probability needed / remaining of its side.
    thread_local std::vector<std::uint8_t> side;
    side.assign(slots_.size(), 2);
    std::array<std::size_t, 2> left{0, 0};
    for (std::size_t s = 0; s < slots_.size(); ++s) {
        if (s == self || slots_[s].empty()) continue;
        side[s] = in_zone(s, z) ? 1 : 0;
        ++left[side[s]];
    }
    std::array<std::size_t, 2> need{0, std::min(z.local, left[1])};
    need[0] = std::min(k - need[1], left[0]);
    need[1] = std::min(k - need[0], left[1]);  // too few others: more of the zone
    const std::size_t base = out.size();
    out.resize(base + (need[0] + need[1]) * N);
    std::uint8_t* dst = out.data() + base;
    for (std::size_t s = 0; s < slots_.size() && need[0] + need[1] > 0; ++s) {
        const std::uint8_t c = side[s];
        if (c == 2) continue;
        if (rng.below(left[c]) < need[c]) {
            std::memcpy(dst, slots_[s].endpoint.data(), N);
            dst += N;
            --need[c];
        }
        --left[c];
    }
}

template <std::size_t N>
void peer_list<N>::build_index(const zone_map& map) {
    index_ = std::make_unique<zone_index>(map.serial(), slots_.size());
    for (std::size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].empty()) continue;
        index_->at(s) = index_->join(map.zone_of(std::span(slots_[s].endpoint).first(N - 2)));
        index_->settle(s);
    }
    after_mutation(npos);
}

template <std::size_t N>
void peer_list<N>::zoned_indexed(std::size_t self, std::size_t k, const zone_side& z, fast_rng& rng,
                                 std::vector<std::uint8_t>& out) const {
    // The sides' sizes come from the index, so the shares are exact, as in zoned_walk.
    const std::uint32_t g = index_->group_of(z.home);
    const std::span<const std::uint32_t> local = g == zone_index::no_group
                                                     ? std::span<const std::uint32_t>{}
                                                     : index_->members(g);
    const bool self_local = self != npos && g != zone_index::no_group &&
                            index_->at(self).group == g;
    const std::size_t skip = self_local ? index_->at(self).pos : npos;
    std::array<std::size_t, 2> left{0, local.size() - (self_local ? 1 : 0)};
    left[0] = size_ - (self != npos ? 1 : 0) - left[1];
    std::array<std::size_t, 2> need{0, std::min(z.local, left[1])};
    need[0] = std::min(k - need[1], left[0]);
    need[1] = std::min(k - need[0], left[1]);  // too few others: more of the zone
    const std::size_t base = out.size();
    out.resize(base + (need[0] + need[1]) * N);
    std::uint8_t* dst = out.data() + base;
    std::size_t got = sample_members(local, skip, need[1], rng, dst);
    got += sample_others(g, self, need[0], left[0], rng, dst + got * N);
    out.resize(base + got * N);
}

template <std::size_t N>
std::size_t peer_list<N>::sample_members(std::span<const std::uint32_t> members, std::size_t skip,
                                         std::size_t want, fast_rng& rng, std::uint8_t* dst) const {
    const std::size_t avail = members.size() - (skip != npos ? 1 : 0);
    if (want == 0) return 0;
    std::size_t got = 0;
    if (want * 2 <= avail && want <= max_rejection_picks) {
        // Rejection over the members' places: each try succeeds with probability >= 1/3.
        pick_set picked(want);
        for (std::size_t tries = 0; got < want && tries < 64 * want + 64; ++tries) {
            const std::size_t i = rng.below(members.size());
            if (i == skip || !picked.add(i)) continue;
            std::memcpy(dst + got * N, slots_[members[i]].endpoint.data(), N);
            ++got;
        }
        return got;
    }
    std::size_t remaining = avail;  // selection sampling (Knuth's algorithm S)
    for (std::size_t i = 0; i < members.size() && got < want; ++i) {
        if (i == skip) continue;
        if (rng.below(remaining) < want - got) {
            std::memcpy(dst + got * N, slots_[members[i]].endpoint.data(), N);
            ++got;
        }
        --remaining;
    }
    return got;
}

template <std::size_t N>
std::size_t peer_list<N>::sample_others(std::uint32_t group, std::size_t self, std::size_t want,
                                        std::size_t avail, fast_rng& rng, std::uint8_t* dst) const {
    if (want == 0) return 0;
    std::size_t got = 0;
    if (want * 2 <= avail && want <= max_rejection_picks && avail * 2 >= size_) {
        // Rejection over the slots, skipping the zone's: with the load >= 0.3, others >= half
        // the peers and <= half of them wanted, a try succeeds with probability >= 0.075; the
        // budget (256 tries a place) is out of reach in practice and only bounds the loop.
        pick_set picked(want);
        for (std::size_t tries = 0; got < want && tries < 256 * want + 256; ++tries) {
            const std::size_t s = rng.below(slots_.size());
            if (s == self || slots_[s].empty() || index_->at(s).group == group || !picked.add(s))
                continue;
            std::memcpy(dst + got * N, slots_[s].endpoint.data(), N);
            ++got;
        }
        return got;
    }
    // Few others (under half the list, or most of them wanted): selection sampling over the
    // other groups' members, O(avail + groups) and every group holds one peer at least.
    std::size_t remaining = avail;
    for (std::uint32_t o = 0; o < index_->group_entries() && got < want; ++o) {
        if (o == group) continue;
        for (const std::uint32_t s : index_->members(o)) {
            if (s == self) continue;
            if (rng.below(remaining) < want - got) {
                std::memcpy(dst + got * N, slots_[s].endpoint.data(), N);
                ++got;
            }
            --remaining;
            if (got == want) break;
        }
    }
    return got;
}

template class peer_list<6>;
template class peer_list<18>;
// The key shares a word with the 32-bit size; the index pointer adds one: 2 x 40 bytes a swarm.
static_assert(sizeof(peer_list<6>) == sizeof(std::vector<peer_record<6>>) + 16);

}  // namespace minibit::tracker
