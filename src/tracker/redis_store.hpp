// The shared swarm store on Redis, run by one reactor of the tracker. Announces are answered
// from the local table and journaled; every flush interval the journal goes out as one
// pipelined batch (store_codec.hpp: per-swarm sorted sets scored by expiry, a registry of
// swarms, a change feed). Every refresh interval the feed's new entries from other instances
// are merged into the local table. On (re)connect the whole local table is pushed and the
// whole store pulled (a resynchronisation), and the other instances are told to pull too.
// While Redis is unreachable nothing is journaled, the tracker answers from its own table, and
// the link retries with backoff. Owned by and called on its reactor's thread only, except
// abandon() (after that thread ended).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minibit/io/reactor.hpp"
#include "minibit/tracker/service.hpp"
#include "minibit/tracker/store.hpp"
#include "redis_link.hpp"
#include "store_codec.hpp"
#include "store_journal.hpp"

namespace minibit::tracker {

class redis_store {
public:
    /// A store for `service` whose announces `journal` collects (set on the service already).
    redis_store(io::reactor& r, tracker_service& service, store_journal& journal,
                const store_config& config, std::chrono::seconds peer_timeout);
    ~redis_store();
    redis_store(const redis_store&) = delete;
    redis_store& operator=(const redis_store&) = delete;

    /// Connects and arms the flush, refresh and trim timers.
    void start();
    /// Writes what is journaled, closes the connection and cancels every timer; the object
    /// then touches its reactor no more.
    void shutdown();
    /// For a reactor whose thread ended before shutdown() ran: drops the connection without
    /// touching the reactor.
    void abandon();

private:
    void on_up();
    void on_down(const std::string& why);
    void set_state(store_state s);
    void every(std::chrono::milliseconds period, std::optional<io::timer_id>& slot,
               void (redis_store::*fn)());
    void flush();
    void refresh();
    void trim_registry();
    void resync();
    void push_shard(std::uint32_t index);
    void pull_page(const std::string& cursor);
    void pull_swarm(const info_hash& hash);
    /// Sends one XREAD of the change feed from the cursor; `round` counts pages this refresh.
    void read_feed(int round);
    void on_feed(const redisReply* r, int round);
    void apply_feed(std::string_view instance, std::string_view blob, std::string_view resync);
    void finish_pull();
    [[nodiscard]] std::uint64_t wall_ms() const;
    [[nodiscard]] std::chrono::seconds table_now() const;

    io::reactor& r_;
    tracker_service& service_;
    store_journal& journal_;
    store_config config_;
    std::chrono::seconds peer_timeout_;
    store_keys keys_;
    std::string instance_;  ///< 8 random bytes naming this instance's entries
    store_counters& counters_;
    std::unique_ptr<redis_link> link_;
    struct sync_state;  ///< resync and feed progress, timers
    std::unique_ptr<sync_state> sync_;
};

}  // namespace minibit::tracker
