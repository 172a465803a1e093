// Byte formats of the shared store: Redis commands in RESP (built here, handed to hiredis
// preformatted, which saves its printf-style formatting per command), the change-feed blob that
// carries a batch of announces to the other instances, and the sorted-set score that packs a
// peer's expiry and role. Pure functions and value types; any thread. Private to tracker/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store_journal.hpp"

namespace minibit::tracker {

/// Builds one RESP command (an array of bulk strings) at a time into a reusable buffer.
class resp_command {
public:
    /// Starts a command of `args` arguments (the command name included).
    resp_command& begin(std::size_t args);
    /// Appends a binary-safe argument.
    resp_command& arg(std::string_view bytes);
    /// Appends raw bytes as an argument.
    resp_command& arg(std::span<const std::uint8_t> bytes);
    /// Appends a decimal argument.
    resp_command& arg(std::uint64_t number);
    /// The command so far.
    [[nodiscard]] std::string_view view() const { return buf_; }

private:
    std::string buf_;
};

/// A sorted-set score: expiry in unix milliseconds times two, plus one for a seeder. Below
/// 2^53, so a double holds it exactly and range queries on expiry still work.
[[nodiscard]] constexpr std::uint64_t peer_score(std::uint64_t expiry_ms, bool seeder) {
    return expiry_ms * 2 + (seeder ? 1 : 0);
}

/// Redis key names under a prefix: per swarm a sorted set of peers, the registry of swarms,
/// the change feed.
struct store_keys {
    std::string prefix;
    /// prefix + "s:" + the 20 raw bytes of the info hash.
    [[nodiscard]] std::string swarm(const info_hash& h) const;
    [[nodiscard]] std::string registry() const { return prefix + "t"; }
    [[nodiscard]] std::string feed() const { return prefix + "f"; }
};

/// What a write-through batch needs besides its entries.
struct batch_params {
    const store_keys* keys = nullptr;
    std::string_view instance;         ///< this instance's id, tagged on its feed entries
    std::uint64_t now_ms = 0;          ///< wall clock: expiries are now + ttl
    std::uint64_t ttl_ms = 0;          ///< the peer timeout
    std::uint64_t feed_cutoff_ms = 0;  ///< feed entries older than this are trimmed
    std::uint64_t batch_number = 0;    ///< picks the swarms whose dead peers are trimmed
};

/// Encodes one write-through batch and calls emit() per RESP command: per swarm a ZADD GT of
/// its announced peers (the last announce of each wins), a ZREM of its stopped ones, a
/// PEXPIRE, and for one swarm in 16 a ZREMRANGEBYSCORE of expired peers; then the registry's
/// ZADD GT and the feed's XADD with every entry in announce order. Sorts `entries`. Returns
/// the number of commands.
std::size_t encode_batch(std::vector<journal_entry>& entries, const batch_params& p,
                         const std::function<void(std::string_view)>& emit);

/// Drops re-announces that tell the store nothing new: a peer is written through at most once
/// per window of `period` in one role (so at most 2 x period apart while it keeps announcing);
/// a role change, a stopped or a completed event always passes. The 64-bit keys (hash of
/// swarm, endpoint and role) live in an open-addressed table that is emptied when a window
/// ends, or early once it holds `max_keys`: memory follows the peers written in one window,
/// nothing is swept, and a collision or an early end only costs one more write. One probe per
/// announce into a flat array: the flush that filters thousands of announces at once must not
/// hold up the reactor's UDP answers.
class rewrite_filter {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t default_max_keys = std::size_t{1} << 21;
    explicit rewrite_filter(clock::duration period, std::size_t max_keys = default_max_keys);
    /// True when `e` must be written through (and remembers it for the window).
    bool admit(const journal_entry& e, clock::time_point now);
    /// Removes the entries it does not admit from `entries`, keeping their order.
    void filter(std::vector<journal_entry>& entries, clock::time_point now);
    /// Forgets everything (after a reconnect every peer must be written again).
    void clear();
    /// Keys remembered in the current window.
    [[nodiscard]] std::size_t size() const { return used_; }

private:
    bool insert(std::uint64_t key);
    void grow();

    clock::duration period_;
    std::size_t max_keys_;
    clock::time_point started_{};
    std::vector<std::uint64_t> slots_;  ///< 0 is empty; a power of two, at most half full
    std::size_t used_ = 0;
};

/// Appends journal entries to a feed blob: per entry flags (1 B), endpoint length (1 B), info
/// hash (20 B), endpoint (6 or 18 B).
void encode_feed(std::span<const journal_entry> entries, std::string& blob);
/// Decodes a feed blob; nullopt when it is malformed (another version, a damaged entry).
[[nodiscard]] std::optional<std::vector<journal_entry>> decode_feed(std::string_view blob);

/// The peer address of a compact endpoint (6 or 18 bytes); nullopt for any other length.
[[nodiscard]] std::optional<peer_address> address_of(std::string_view endpoint);

}  // namespace minibit::tracker
