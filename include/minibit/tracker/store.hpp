// Settings of the shared swarm store: several tracker instances keep one swarm table in Redis.
// Each instance answers from its own table, writes its announces through in batches and merges
// the others' from Redis every refresh period (docs/tracker.md). Value types; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::tracker {

enum class store_errc {
    bad_address = 1,  ///< a --store value that does not parse
    unresolved,       ///< a host name that does not resolve
    bad_config,       ///< an interval or limit out of range
};
[[nodiscard]] constexpr std::string_view error_domain(store_errc) {
    return "store";
}

/// Where Redis listens: redis://HOST:PORT[/DB] or unix:///path/to/redis.sock[?db=N].
struct store_address {
    bool unix_socket = false;
    std::string host;  ///< TCP: an IP literal once resolve() ran
    std::uint16_t port = 6379;
    std::string path;  ///< Unix socket path
    unsigned db = 0;   ///< SELECTed after connecting (0..15 by Redis's default config)

    /// Parses a --store value; names are kept for resolve().
    [[nodiscard]] static result<store_address> parse(std::string_view url);
    /// Resolves a host name to an IP literal (blocking getaddrinfo: call at start-up, never on
    /// a reactor; the Redis client would resolve synchronously on every connect otherwise).
    [[nodiscard]] result<store_address> resolve() const;
    /// The URL form, for logs and /stats.
    [[nodiscard]] std::string to_string() const;
};

/// Tunables of the shared store (flags --store, --store-flush-ms, --store-refresh-ms).
struct store_config {
    store_address address;
    /// Announces are written through at least this often, in one pipelined batch.
    std::chrono::milliseconds flush_interval{50};
    /// Other instances' announces are read this often (the consistency window is about
    /// flush_interval + refresh_interval).
    std::chrono::milliseconds refresh_interval{500};
    /// A connect, or the oldest command waiting for its reply, fails after this.
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{5000};
    /// Reconnect delays double from the first to the last.
    std::chrono::milliseconds backoff_min{250};
    std::chrono::milliseconds backoff_max{5000};
    /// A peer that keeps announcing in one role is written through once per window of this
    /// (at most peer timeout / 8): a re-announce within it tells the others nothing new.
    std::chrono::seconds rewrite_window{60};
    /// How long the change feed keeps entries (an instance away longer resynchronises whole).
    std::chrono::seconds feed_window{120};
    /// Announces journaled per shard between two flushes; more are dropped and the next
    /// resynchronisation pushes the whole table instead.
    std::size_t max_journal_per_shard = 65536;
    /// Prefix of every Redis key (several tracker fleets may share one Redis).
    std::string key_prefix = "mb:";

    /// Checks the intervals.
    [[nodiscard]] result<void> validate() const;
};

}  // namespace minibit::tracker
