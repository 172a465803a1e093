// The tracker's swarm table: torrents sharded by info hash; each shard maps info hashes to
// swarms of compact peer records (IPv4 and IPv6 lists), answers announces with a random sample
// of peers, scrapes with counters, and expires silent peers incrementally.
// A shard is single-threaded: its owner (a reactor, or a holder of the shard's lock) calls it.
// Time is injected as seconds on any monotonic clock, so tests need no wall clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/core/units.hpp"
#include "minibit/tracker/peer_list.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::tracker {

enum class tracker_errc {
    bad_config = 1,  ///< a configuration value out of range
    table_full,      ///< the shard holds max_torrents_per_shard swarms already
    not_allowed,     ///< the info hash is refused by the allow/deny list
    bad_list,        ///< an allow/deny list line is not 40 hex digits
    io,              ///< reading a list file failed
    bad_zones,       ///< a zones file line is not 'PREFIX/LENGTH ZONE' (or repeats a prefix)
};
[[nodiscard]] constexpr std::string_view error_domain(tracker_errc) {
    return "tracker";
}

/// A peer's stamp counts ticks of this many seconds (peer_list.hpp: 15-bit stamps).
inline constexpr std::int64_t stamp_tick_seconds = 8;

/// Tunables of the table; validate() checks them.
struct table_config {
    std::chrono::seconds peer_timeout{2 * 1800 + 60};  ///< silent peers expire after this
    std::uint32_t default_numwant = 50;                ///< when the client sends none
    std::uint32_t max_numwant = 200;                   ///< hard cap on peers per answer
    std::size_t max_torrents_per_shard = 1U << 20U;    ///< bounds memory under hostile churn
    /// Share of an answer from the asker's zone (zone_map.hpp), the rest from other zones;
    /// 0 turns zones off (a uniform sample of the swarm).
    double zone_local_fraction = 0.75;

    /// Rejects values the table cannot honour (timeout beyond half the stamp range, zero caps).
    [[nodiscard]] result<void> validate() const;
};

/// A peer's address and port; IPv4 uses address[0..4).
struct peer_address {
    std::array<std::uint8_t, 16> address{};
    std::uint8_t address_bytes = 4;  ///< 4 or 16
    std::uint16_t port = 0;
};

/// Which address families an answer may contain.
enum class peer_families : std::uint8_t { ipv4 = 1, ipv6 = 2, both = 3 };

/// One announce as the table sees it (front ends fill it from HTTP or UDP requests).
struct announce_input {
    info_hash hash;
    peer_address peer;
    std::uint64_t left = 0;  ///< 0 means seeder
    wire::announce_event event = wire::announce_event::none;
    /// Peers wanted: none = default_numwant; 0 = none (a client that only reports); capped at
    /// max_numwant.
    std::optional<std::uint32_t> numwant;
    peer_families families = peer_families::both;
    /// The zones answers are split by (table_config::zone_local_fraction); null: none.
    const zone_map* zones = nullptr;
};

/// Swarm counters returned by announce and scrape.
struct swarm_counts {
    std::uint32_t complete = 0;    ///< seeders
    std::uint32_t incomplete = 0;  ///< leechers
    std::uint32_t downloaded = 0;  ///< completed events seen
};

/// Peers of one address family (v4: 8 B slots, v6: 20 B) plus counters.
struct swarm {
    peer_list<6> v4;
    peer_list<18> v6;
    std::uint32_t seeders = 0;
    std::uint32_t downloaded = 0;

    [[nodiscard]] std::uint32_t peer_count() const {
        return static_cast<std::uint32_t>(v4.size() + v6.size());
    }
};

/// A peer learnt from outside the announce path (a state file, another tracker instance through
/// the shared store): where it is, its role, and how long ago it last announced.
struct peer_entry {
    peer_address peer;
    bool seeder = false;
    std::chrono::seconds age{0};
};

/// One shard: the swarms whose info hash maps here. Single-threaded.
class swarm_shard {
public:
    /// A shard with its own random stream and endpoint hash key, both drawn from `seed`.
    swarm_shard(const table_config& config, std::uint64_t seed);

    /// Records the announce and appends sampled peers (6-byte or 18-byte records) to the outputs.
    [[nodiscard]] result<swarm_counts> announce(const announce_input& in, std::chrono::seconds now,
                                                std::vector<std::uint8_t>& peers4,
                                                std::vector<std::uint8_t>& peers6);
    /// Counters of one torrent (all zero when unknown).
    [[nodiscard]] swarm_counts scrape(const info_hash& hash) const;
    /// Visits up to max_swarms swarms from where the last call stopped, drops peers silent for
    /// longer than peer_timeout and swarms left empty; returns the peers removed.
    std::size_t expire(std::chrono::seconds now, std::size_t max_swarms);

    [[nodiscard]] std::size_t torrent_count() const { return swarms_.size(); }
    [[nodiscard]] std::size_t peer_count() const { return peers_; }
    [[nodiscard]] std::size_t seeder_count() const { return seeders_; }
    /// Approximate heap bytes of peer storage (records + indexes).
    [[nodiscard]] std::size_t memory_bytes() const;
    /// Checks (MINIBIT_ASSERT) the index against the swarm vector, the peer and seeder counts
    /// of every swarm and of the shard, and each peer list's own invariants. O(peers); run by
    /// the unit tests, and after every announce and expiry with -Dinvariants=full (whole for
    /// shards up to 1024 peers and swarms, else a small swarm an announce touched).
    void check_invariants() const;

    // ---- state files and the shared store (swarm_merge.cpp) ----
    /// Adds a peer learnt elsewhere, or refreshes it unless the shard's own record is newer
    /// (a tie, within one 8-second tick, goes to the incoming record). Entries older than the
    /// peer timeout are ignored. Counts no announce and no completed download.
    [[nodiscard]] result<void> merge(const info_hash& hash, const peer_entry& e,
                                     std::chrono::seconds now);
    /// Removes a peer that stopped elsewhere (a no-op when unknown).
    void forget(const info_hash& hash, const peer_address& p);
    /// Adds to a known swarm's completed-download counter.
    void add_downloaded(const info_hash& hash, std::uint32_t n);
    /// How long ago a record of this shard last announced, to the 8-second tick.
    [[nodiscard]] static std::chrono::seconds age_of(std::uint16_t stamp, std::chrono::seconds now);
    /// Calls fn(hash, swarm) for every swarm, in storage order.
    template <class Fn>
    void for_each_swarm(Fn&& fn) const {
        for (const entry& e : swarms_) fn(e.hash, e.peers);
    }

private:
    struct entry {
        info_hash hash;
        swarm peers;
    };
    template <std::size_t N>
    void update(swarm& s, peer_list<N>& list, const std::array<std::uint8_t, N>& ep,
                const announce_input& in, std::uint16_t stamp, std::size_t& self);
    template <std::size_t N>
    void remove(swarm& s, peer_list<N>& list, std::size_t i);
    template <std::size_t N>
    std::size_t expire_list(swarm& s, peer_list<N>& list, std::uint16_t stamp);
    void drop_swarm(std::size_t i);
    /// Keeps the swarm's and the shard's seeder counts when a peer's role goes from `was` to
    /// `now` (seeder or not).
    void count_role(swarm& s, bool was, bool now) {
        if (now == was) return;
        if (now) {
            ++s.seeders;
            ++seeders_;
        } else {
            --s.seeders;
            --seeders_;
        }
    }
    [[nodiscard]] result<swarm*> find_or_add(const info_hash& hash);
    template <std::size_t N>
    void merge_into(swarm& s, peer_list<N>& list, const std::array<std::uint8_t, N>& ep,
                    bool seeder, std::uint16_t stamp, std::chrono::seconds now);

    table_config config_;
    fast_rng rng_;
    std::uint32_t hash_key_;  ///< the key of every peer list here (hash flooding: see peer_list)
    std::unordered_map<info_hash, std::uint32_t> index_;  ///< info hash -> position in swarms_
    std::vector<entry> swarms_;
    std::size_t cursor_ = 0;  ///< next swarm expire() visits
    std::size_t peers_ = 0;
    std::size_t seeders_ = 0;
};

/// All shards; the info hash picks the shard. Holds no lock: each shard has one owner.
class swarm_table {
public:
    /// Builds `shards` shards (>= 1), each seeded from `seed`.
    swarm_table(const table_config& config, std::uint32_t shards, std::uint64_t seed);

    /// The shard that owns an info hash.
    [[nodiscard]] shard_id shard_of(const info_hash& hash) const;
    /// A shard by id.
    [[nodiscard]] swarm_shard& shard(shard_id id) { return shards_[id.get()]; }
    [[nodiscard]] const swarm_shard& shard(shard_id id) const { return shards_[id.get()]; }
    [[nodiscard]] std::uint32_t shard_count() const {
        return static_cast<std::uint32_t>(shards_.size());
    }

private:
    std::vector<swarm_shard> shards_;
};

}  // namespace minibit::tracker
