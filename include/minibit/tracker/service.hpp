// The tracker's request logic, independent of sockets: routes an HTTP request target
// (/announce, /scrape, /stats, /metrics) or a BEP 15 datagram to the swarm table and builds the
// answer. The table's shards are each guarded by their own mutex (2 cores: short critical
// sections beat cross-reactor hops for a ~1 us announce), so any reactor thread may call it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "minibit/io/address.hpp"
#include "minibit/tracker/connection_id.hpp"
#include "minibit/tracker/info_hash_filter.hpp"
#include "minibit/tracker/stats.hpp"
#include "minibit/tracker/swarm_table.hpp"
#include "minibit/tracker/zone_map.hpp"
#include "minibit/wire/tracker_http.hpp"
#include "minibit/wire/tracker_udp.hpp"

namespace minibit::tracker {

/// What the service answers with and how often clients should come back.
struct service_config {
    table_config table;
    std::uint32_t shards = 64;
    std::chrono::seconds interval{1800};
    std::chrono::seconds min_interval{60};
    wire::http_query_limits query;
    std::size_t expire_swarms_per_tick = 256;  ///< per shard per expire() call

    /// Checks the table config and that 0 < min_interval <= interval <= peer_timeout.
    [[nodiscard]] result<void> validate() const;
};

/// An HTTP answer body with its status and media type.
struct http_reply {
    int status = 200;
    std::string_view content_type = "text/plain";
    std::string body;
};

class store_journal;
class rollout_table;

/// The shared request handler of every front end.
class tracker_service {
public:
    /// A service with its own swarm table; `seed` feeds the table's samplers.
    tracker_service(const service_config& config, std::uint64_t seed, connection_id_issuer ids);

    /// Answers one HTTP GET; `now` is the monotonic time of the caller's loop.
    [[nodiscard]] http_reply handle_http(std::string_view target, const io::address& peer,
                                         std::chrono::seconds now);
    /// Answers one UDP datagram into `reply`; leaves it empty when the packet is dropped.
    void handle_udp(std::span<const std::uint8_t> packet, const io::address& from,
                    std::chrono::seconds now, std::vector<std::uint8_t>& reply);
    /// Expires silent peers in the shards i with i % parts == part (one reactor's share).
    void expire(std::uint32_t part, std::uint32_t parts, std::chrono::seconds now);
    /// Replaces the allow/deny list; any thread.
    void set_filter(std::shared_ptr<const info_hash_filter> filter);
    /// Replaces the zone map answers are split by; any thread. Announces read it through a
    /// plain atomic pointer, so every map given stays alive until the service ends (one per
    /// reload; a map costs about 24 bytes per prefix).
    void set_zones(std::shared_ptr<const zone_map> zones);
    /// Totals over all shards (takes each shard lock in turn).
    [[nodiscard]] table_totals totals() const;
    /// The counters (front ends count their own transport errors here).
    [[nodiscard]] tracker_stats& stats() { return stats_; }
    /// Sets the time /stats reports uptime from.
    void set_start(std::chrono::seconds start) { start_ = start; }

    // ---- state files and the shared store ----
    /// Number of shards of the table.
    [[nodiscard]] std::uint32_t shard_count() const { return table_.shard_count(); }
    /// The shard that owns an info hash.
    [[nodiscard]] shard_id shard_of(const info_hash& hash) const { return table_.shard_of(hash); }
    /// Runs fn(swarm_shard&) on shard `id` under its lock; any thread.
    template <class Fn>
    decltype(auto) with_shard(shard_id id, Fn&& fn) {
        const std::lock_guard lock(locks_[id.get()]);
        return fn(table_.shard(id));
    }
    /// Makes every announce journal itself into `journal` (set before the front ends start; it
    /// must outlive them). Without one, the announce path pays a single null check.
    void set_journal(store_journal* journal) { journal_ = journal; }
    /// Makes every accepted announce feed the rollout view (set before the front ends start;
    /// it must outlive them).
    void set_rollout(rollout_table* rollout) { rollout_ = rollout; }

private:
    http_reply http_announce(std::string_view query, const io::address& peer,
                             std::chrono::seconds now);
    http_reply http_scrape(std::string_view query);
    http_reply http_failure(error_kind kind, std::string_view reason);
    void udp_announce(const wire::udp_announce_request& a, const io::address& from,
                      std::chrono::seconds now, std::vector<std::uint8_t>& reply);
    void udp_scrape(const wire::udp_scrape_request& s, std::vector<std::uint8_t>& reply);
    [[nodiscard]] bool allowed(const info_hash& hash) const;
    [[nodiscard]] swarm_counts scrape_one(const info_hash& hash) const;

    service_config config_;
    connection_id_issuer ids_;
    swarm_table table_;
    std::unique_ptr<std::mutex[]> locks_;  ///< one per shard, same index
    std::atomic<std::shared_ptr<const info_hash_filter>> filter_;
    std::atomic<const zone_map*> zones_;                      ///< the newest of zone_maps_
    std::vector<std::shared_ptr<const zone_map>> zone_maps_;  ///< guarded by zones_lock_
    std::mutex zones_lock_;
    tracker_stats stats_;
    std::chrono::seconds start_{0};
    store_journal* journal_ = nullptr;  ///< the shared store's write-through, if any
    rollout_table* rollout_ = nullptr;  ///< the rollout view, if any
};

}  // namespace minibit::tracker
