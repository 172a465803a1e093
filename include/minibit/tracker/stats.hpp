// Tracker counters: requests by protocol and kind, errors by kind, per-second rates computed on
// a 1-second tick, rendered as the /stats JSON and the /metrics Prometheus text.
// Counters are relaxed atomics bumped by every reactor thread; tick() runs on one thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace minibit::tracker {

/// Which front end served a request.
enum class protocol : std::uint8_t { http, udp };
/// What a request asked for.
enum class request_kind : std::uint8_t { announce, scrape, connect };
/// Why a request failed.
enum class error_kind : std::uint8_t {
    bad_request,
    not_allowed,
    bad_connection_id,
    table_full,
    not_found,
    too_large,
    timeout,
    connection_limit,  ///< an HTTP connection closed at accept: --max-connections reached
};
inline constexpr std::size_t protocol_count = 2;
inline constexpr std::size_t request_kind_count = 3;
inline constexpr std::size_t error_kind_count = 8;

/// Name of an error kind as shown in /stats and /metrics.
[[nodiscard]] std::string_view to_string(error_kind kind);

/// Swarm-table totals gathered by the caller (under the shard locks).
struct table_totals {
    std::uint64_t torrents = 0;
    std::uint64_t peers = 0;
    std::uint64_t seeders = 0;
};

/// The shared store's connection as /stats and /metrics show it.
enum class store_state : std::uint8_t { off, connecting, syncing, up, down };
/// Name of a store state as shown in /stats.
[[nodiscard]] std::string_view to_string(store_state s);

/// The shared store's figures: written by the store's reactor thread, read by any (relaxed:
/// each is independent and readers only need recent values).
struct store_counters {
    std::atomic<store_state> state{store_state::off};
    std::atomic<std::uint64_t> outages{0};     ///< times the store became unreachable
    std::atomic<std::uint64_t> resyncs{0};     ///< whole-table pushes and pulls
    std::atomic<std::uint64_t> batches{0};     ///< write-through batches sent
    std::atomic<std::uint64_t> written{0};     ///< announces written through
    std::atomic<std::uint64_t> repeats{0};     ///< re-announces not written (rewrite_window)
    std::atomic<std::uint64_t> last_batch{0};  ///< announces in the last batch
    std::atomic<std::uint64_t> max_batch{0};   ///< announces in the largest batch
    std::atomic<std::uint64_t> merged{0};      ///< other instances' announces applied here
    std::atomic<std::uint64_t> pulled{0};      ///< peers read by resynchronisations
    std::atomic<std::uint64_t> errors{0};      ///< error replies from the store
};

/// Process-wide request and error counters.
class tracker_stats {
public:
    /// Counts one request.
    void count(protocol p, request_kind k) {
        requests_[index(p, k)].fetch_add(1, std::memory_order_relaxed);
    }
    /// Counts one error.
    void count(error_kind e) {
        errors_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
    }
    /// Total requests of one kind so far.
    [[nodiscard]] std::uint64_t total(protocol p, request_kind k) const {
        return requests_[index(p, k)].load(std::memory_order_relaxed);
    }
    /// Adds `delta` (+1 accepted, -1 closed) to the open HTTP connections gauge.
    void connections(std::int64_t delta) { open_http_.fetch_add(delta, std::memory_order_relaxed); }
    /// Open HTTP connections of every thread.
    [[nodiscard]] std::int64_t open_http_connections() const {
        return open_http_.load(std::memory_order_relaxed);
    }
    /// Total errors of one kind so far.
    [[nodiscard]] std::uint64_t total(error_kind e) const {
        return errors_[static_cast<std::size_t>(e)].load(std::memory_order_relaxed);
    }
    /// Recomputes per-second rates from the counts since the previous tick; one thread only.
    void tick(std::chrono::steady_clock::time_point now);
    /// The /stats body.
    [[nodiscard]] std::string to_json(const table_totals& t, std::chrono::seconds uptime) const;
    /// The /metrics body (Prometheus text exposition format 0.0.4).
    [[nodiscard]] std::string to_prometheus(const table_totals& t,
                                            std::chrono::seconds uptime) const;
    /// The shared store's figures (state off when there is none).
    [[nodiscard]] store_counters& store() { return store_; }
    [[nodiscard]] const store_counters& store() const { return store_; }

private:
    static constexpr std::size_t slots = protocol_count * request_kind_count;
    static std::size_t index(protocol p, request_kind k) {
        return static_cast<std::size_t>(p) * request_kind_count + static_cast<std::size_t>(k);
    }
    // Relaxed is enough: each counter is independent and readers only need eventual values.
    std::array<std::atomic<std::uint64_t>, slots> requests_{};
    std::array<std::atomic<std::uint64_t>, error_kind_count> errors_{};
    std::atomic<std::int64_t> open_http_{0};  // a gauge; relaxed like the counters
    // Rates in milli-requests per second, written by tick(), read by any thread.
    std::array<std::atomic<std::uint64_t>, slots> rate_milli_{};
    std::array<std::uint64_t, slots> last_{};
    std::chrono::steady_clock::time_point last_tick_{};
    store_counters store_;
};

}  // namespace minibit::tracker
