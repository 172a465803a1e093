#include "minibit/tracker/swarm_table.hpp"

#include <algorithm>
#include <cstring>

#include "minibit/core/assert.hpp"
#include "peer_endpoint.hpp"

namespace minibit::tracker {
namespace {

// A peer's stamp counts 8-second ticks modulo 32767 (see peer_list.hpp): ages stay exact up to
// ~72 h; the timeout may be at most half of that, so a late sweep still sees a true age.
constexpr std::int64_t seconds_per_tick = stamp_tick_seconds;
constexpr std::int64_t max_timeout_seconds = stamp_period / 2 * seconds_per_tick;
/// -Dinvariants=full: shards up to this many peers and swarms are checked whole after each
/// announce and expiry; in bigger ones an announce checks the swarm it touched if that one is
/// this small (the peer lists always check what each mutation touched), so a big table stays
/// usable.
constexpr std::size_t full_check_max = 1024;

std::uint16_t to_stamp(std::chrono::seconds now) {
    return stamp_of(static_cast<std::uint64_t>(now.count() / seconds_per_tick));
}

template <std::size_t N>
std::size_t seeders_in(const peer_list<N>& list) {
    std::size_t n = 0;
    for (std::size_t s = 0; s < list.capacity(); ++s) n += list.at(s).seeder() ? 1 : 0;
    return n;
}

/// One swarm's invariants: its peer lists', and its seeder count against their records.
void check_swarm(const swarm& s) {
    s.v4.check_invariants();
    s.v6.check_invariants();
    MINIBIT_ASSERT(seeders_in(s.v4) + seeders_in(s.v6) == s.seeders,
                   "swarm_shard: swarm seeder count differs from its records");
    MINIBIT_ASSERT(s.seeders <= s.peer_count(), "swarm_shard: more seeders than peers");
}

}  // namespace

result<void> table_config::validate() const {
    if (peer_timeout.count() <= 0 || peer_timeout.count() > max_timeout_seconds) {
        return fail(tracker_errc::bad_config,
                    "peer timeout must be 1.." + std::to_string(max_timeout_seconds) + " seconds");
    }
    if (default_numwant == 0 || max_numwant == 0 || default_numwant > max_numwant) {
        return fail(tracker_errc::bad_config, "numwant: need 0 < default <= max");
    }
    if (max_torrents_per_shard == 0) return fail(tracker_errc::bad_config, "no torrents allowed");
    if (!(zone_local_fraction >= 0.0 && zone_local_fraction <= 1.0))
        return fail(tracker_errc::bad_config, "zone local fraction must be 0..1");
    return {};
}

swarm_shard::swarm_shard(const table_config& config, std::uint64_t seed)
    : config_(config), rng_(seed), hash_key_(static_cast<std::uint32_t>(rng_.next() >> 32U)) {}

template <std::size_t N>
void swarm_shard::update(swarm& s, peer_list<N>& list, const std::array<std::uint8_t, N>& ep,
                         const announce_input& in, std::uint16_t stamp, std::size_t& self) {
    const bool seeder = in.left == 0;
    self = list.find(ep);
    bool was_seeder = false;
    if (self == peer_list<N>::npos) {
        peer_record<N> rec;
        rec.set(stamp, seeder);
        self = list.insert(ep, rec.state, in.zones);
        ++peers_;
    } else {
        was_seeder = list.at(self).seeder();
        list.at(self).set(stamp, seeder);
    }
    count_role(s, was_seeder, seeder);
    if (in.event == wire::announce_event::completed && !was_seeder) ++s.downloaded;
}

template <std::size_t N>
void swarm_shard::remove(swarm& s, peer_list<N>& list, std::size_t i) {
    if (list.at(i).seeder()) {
        --s.seeders;
        --seeders_;
    }
    list.remove_at(i);
    --peers_;
}

result<swarm_counts> swarm_shard::announce(const announce_input& in, std::chrono::seconds now,
                                           std::vector<std::uint8_t>& peers4,
                                           std::vector<std::uint8_t>& peers6) {
    const bool v6 = in.peer.address_bytes == 16;
    auto it = index_.find(in.hash);
    if (it == index_.end()) {
        if (in.event == wire::announce_event::stopped) return swarm_counts{};
        if (swarms_.size() >= config_.max_torrents_per_shard) {
            return fail(tracker_errc::table_full, "too many torrents");
        }
        it = index_.emplace(in.hash, static_cast<std::uint32_t>(swarms_.size())).first;
        swarms_.push_back(entry{in.hash, swarm{peer_list<6>(hash_key_), peer_list<18>(hash_key_)}});
    }
    swarm& s = swarms_[it->second].peers;
    std::size_t self4 = peer_list<6>::npos;
    std::size_t self6 = peer_list<18>::npos;
    if (in.event == wire::announce_event::stopped) {
        // BEP 3: a stopped peer leaves the swarm at once and gets no peers.
        if (v6) {
            if (const auto i = s.v6.find(endpoint_of<18>(in.peer)); i != peer_list<18>::npos) {
                remove(s, s.v6, i);
            }
        } else if (const auto i = s.v4.find(endpoint_of<6>(in.peer)); i != peer_list<6>::npos) {
            remove(s, s.v4, i);
        }
    } else {
        const std::uint16_t stamp = to_stamp(now);
        if (v6) {
            update(s, s.v6, endpoint_of<18>(in.peer), in, stamp, self6);
        } else {
            update(s, s.v4, endpoint_of<6>(in.peer), in, stamp, self4);
        }
        std::size_t want = in.numwant.value_or(config_.default_numwant);
        want = std::min<std::size_t>(want, config_.max_numwant);
        const auto fam = static_cast<unsigned>(in.families);
        const zone_split split{in.zones, std::span(in.peer.address).first(in.peer.address_bytes),
                               config_.zone_local_fraction};
        const std::size_t before4 = peers4.size();
        if ((fam & static_cast<unsigned>(peer_families::ipv4)) != 0) {
            s.v4.sample_zoned(self4, want, split, rng_, peers4);
            want -= (peers4.size() - before4) / 6;
        }
        if ((fam & static_cast<unsigned>(peer_families::ipv6)) != 0) {
            s.v6.sample_zoned(self6, want, split, rng_, peers6);
        }
    }
    if constexpr (MINIBIT_INVARIANTS_FULL) {
        if (peers_ <= full_check_max && swarms_.size() <= full_check_max) {
            check_invariants();
        } else if (s.peer_count() <= full_check_max) {
            check_swarm(s);
        }
    }
    return swarm_counts{s.seeders, s.peer_count() - s.seeders, s.downloaded};
}

swarm_counts swarm_shard::scrape(const info_hash& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return {};
    const swarm& s = swarms_[it->second].peers;
    return swarm_counts{s.seeders, s.peer_count() - s.seeders, s.downloaded};
}

template <std::size_t N>
std::size_t swarm_shard::expire_list(swarm& s, peer_list<N>& list, std::uint16_t stamp) {
    const auto max_age = static_cast<std::uint16_t>(config_.peer_timeout.count() /
                                                    seconds_per_tick);
    const std::size_t removed = list.remove_if([&](const peer_record<N>& r) {
        if (stamp_age(stamp, r.stamp()) <= max_age) return false;
        if (r.seeder()) {
            --s.seeders;
            --seeders_;
        }
        return true;
    });
    peers_ -= removed;
    return removed;
}

void swarm_shard::drop_swarm(std::size_t i) {
    index_.erase(swarms_[i].hash);
    if (i + 1 != swarms_.size()) {
        swarms_[i] = std::move(swarms_.back());
        index_[swarms_[i].hash] = static_cast<std::uint32_t>(i);
    }
    swarms_.pop_back();
}

std::size_t swarm_shard::expire(std::chrono::seconds now, std::size_t max_swarms) {
    const std::uint16_t stamp = to_stamp(now);
    std::size_t removed = 0;
    // Each swarm at most once per call: a shard with few swarms must not sweep them 256 times.
    const std::size_t visits = std::min(max_swarms, swarms_.size());
    for (std::size_t visited = 0; visited < visits && !swarms_.empty(); ++visited) {
        if (cursor_ >= swarms_.size()) cursor_ = 0;
        swarm& s = swarms_[cursor_].peers;
        removed += expire_list(s, s.v4, stamp);
        removed += expire_list(s, s.v6, stamp);
        if (s.peer_count() == 0) {
            drop_swarm(cursor_);  // the last swarm moved here; visit it next
        } else {
            ++cursor_;
        }
    }
    if constexpr (MINIBIT_INVARIANTS_FULL) {
        if (peers_ <= full_check_max && swarms_.size() <= full_check_max) check_invariants();
    }
    return removed;
}

void swarm_shard::check_invariants() const {
    MINIBIT_ASSERT(index_.size() == swarms_.size(), "swarm_shard: index and swarms differ in size");
    MINIBIT_ASSERT(swarms_.size() <= config_.max_torrents_per_shard,
                   "swarm_shard: too many swarms");
    MINIBIT_ASSERT(cursor_ <= swarms_.size(), "swarm_shard: expiry cursor past the end");
    std::size_t peers = 0;
    std::size_t seeders = 0;
    for (std::size_t i = 0; i < swarms_.size(); ++i) {
        [[maybe_unused]] const auto it = index_.find(swarms_[i].hash);
        MINIBIT_ASSERT(it != index_.end() && it->second == i,
                       "swarm_shard: index points elsewhere");
        const swarm& s = swarms_[i].peers;
        check_swarm(s);
        peers += s.peer_count();
        seeders += s.seeders;
    }
    MINIBIT_ASSERT(peers == peers_, "swarm_shard: peer total differs from the swarms");
    MINIBIT_ASSERT(seeders == seeders_, "swarm_shard: seeder total differs from the swarms");
}

std::size_t swarm_shard::memory_bytes() const {
    std::size_t total = swarms_.capacity() * sizeof(entry);
    for (const auto& e : swarms_) total += e.peers.v4.memory_bytes() + e.peers.v6.memory_bytes();
    return total;
}

swarm_table::swarm_table(const table_config& config, std::uint32_t shards, std::uint64_t seed) {
    const std::uint32_t n = std::max<std::uint32_t>(shards, 1);
    shards_.reserve(n);
    fast_rng seeder(seed);
    for (std::uint32_t i = 0; i < n; ++i) shards_.emplace_back(config, seeder.next());
}

shard_id swarm_table::shard_of(const info_hash& hash) const {
    // Info hashes are SHA-1 output, so their last bytes are already uniform.
    std::uint32_t v = 0;
    for (std::size_t i = 16; i < 20; ++i) v = (v << 8U) | hash.bytes[i];
    return shard_id{v % static_cast<std::uint32_t>(shards_.size())};
}

}  // namespace minibit::tracker
