// The rollout view of a tracker: per torrent, when it was first announced, how many hosts
// completed it and how long each took (a log-bucket histogram and a completion-over-time
// series), which hosts are still downloading and which of those stopped making progress
// (stragglers), and the host count an operator expects. Bounded in memory: a global cap on
// torrents and on tracked downloading peers (a completed peer's record is dropped at once).
// Sharded by info hash, each shard behind its own mutex, so every reactor thread may record.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {

/// Limits and settings of the rollout view (tracker flags --straggler-after, --rollout-*).
struct rollout_config {
    /// A downloading peer whose `left` has not gone down for this long is a straggler.
    std::chrono::milliseconds straggler_after{std::chrono::seconds(120)};
    /// Downloading peers silent this long are forgotten (counted as gone).
    std::chrono::milliseconds forget_after{std::chrono::seconds(3660)};
    std::size_t max_torrents = 4096;  ///< torrents tracked at once (all shards)
    std::size_t max_peers = 262144;   ///< downloading peers tracked at once (all shards)
    std::size_t max_listed = 200;     ///< stragglers listed in one torrent's detail
    std::uint32_t shards = 64;

    /// Rejects zero caps and non-positive durations.
    [[nodiscard]] result<void> validate() const;
};

/// Time-to-complete quantiles in milliseconds (all zero when count is 0).
struct completion_times {
    std::uint64_t count = 0;
    std::int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

/// Per-peer times to complete in milliseconds: 16 log buckets per octave (values within 1/16
/// of the truth), exact below 16 ms; quantiles are clamped to the largest value seen.
class completion_histogram {
public:
    /// Counts one time.
    void add(std::int64_t ms);
    /// Quantile q in [0, 1] (the upper edge of the bucket holding rank ceil(q * count)).
    [[nodiscard]] std::int64_t quantile(double q) const;
    /// The four figures /v1 shows.
    [[nodiscard]] completion_times summary() const;
    [[nodiscard]] std::uint64_t count() const { return count_; }

private:
    static constexpr std::size_t sub = 16;
    static std::size_t bucket_of(std::int64_t ms);
    static std::int64_t upper_of(std::size_t bucket);
    std::vector<std::uint32_t> buckets_;  ///< allocated on the first completion
    std::uint64_t count_ = 0;
    std::int64_t max_ = 0;
};

/// Completions per time bucket since the torrent was first seen; the bucket width doubles (and
/// pairs merge) whenever a completion falls past the last of max_buckets.
class completion_series {
public:
    static constexpr std::size_t max_buckets = 240;
    /// Counts one completion `at` ms after first-seen.
    void add(std::int64_t at);
    [[nodiscard]] std::int64_t bucket_ms() const { return bucket_ms_; }
    [[nodiscard]] const std::vector<std::uint32_t>& counts() const { return counts_; }

private:
    std::int64_t bucket_ms_ = 100;
    std::vector<std::uint32_t> counts_;
};

/// A downloading peer that has made no progress for straggler_after.
struct straggler {
    peer_address peer;
    std::uint64_t left = 0;
    std::chrono::milliseconds since_progress{0};
    std::chrono::milliseconds since_first{0};
};

/// One torrent's figures at one moment (copied out under the shard lock).
struct rollout_summary {
    info_hash hash;
    std::optional<std::chrono::milliseconds> since_first_seen;  ///< none before any announce
    std::optional<std::uint32_t> expected;
    std::uint32_t completed = 0;    ///< downloading peers seen becoming seeds
    std::uint32_t downloading = 0;  ///< tracked peers not complete
    std::uint32_t stragglers = 0;
    std::uint32_t gone = 0;       ///< downloading peers that stopped or went silent
    std::uint32_t untracked = 0;  ///< downloading peers not tracked (the peer cap was reached)
    completion_times times;
};

/// A torrent's summary plus its straggler list and completion series.
struct rollout_detail {
    rollout_summary summary;
    std::vector<straggler> stragglers;  ///< longest without progress first, <= max_listed
    std::int64_t bucket_ms = 0;
    std::vector<std::uint32_t> completions;  ///< per bucket since first seen
};

/// Why set_expected refused.
enum class rollout_errc {
    full = 1,  ///< max_torrents reached and nothing can be evicted
    bad_file,  ///< an --expect file line is malformed
};
[[nodiscard]] constexpr std::string_view error_domain(rollout_errc) {
    return "rollout";
}

/// Expected host counts: one "INFO_HASH COUNT" per line (40 hex digits), '#' comments.
[[nodiscard]] result<std::vector<std::pair<info_hash, std::uint32_t>>> load_expect_file(
    const std::filesystem::path& path);

/// The figures of every tracked torrent; thread-safe (one mutex per shard).
class rollout_table {
public:
    using millis = std::chrono::milliseconds;
    explicit rollout_table(const rollout_config& config);
    rollout_table(const rollout_table&) = delete;
    rollout_table& operator=(const rollout_table&) = delete;
    ~rollout_table();

    /// Records one accepted announce at `now` (a monotonic clock in ms).
    void record(const announce_input& in, millis now);
    /// Sets (or with nullopt clears) a torrent's expected host count; tracks it if new.
    [[nodiscard]] result<void> set_expected(const info_hash& hash,
                                            std::optional<std::uint32_t> count, millis now);
    /// Every tracked torrent, sorted by info hash.
    [[nodiscard]] std::vector<rollout_summary> list(millis now) const;
    /// One torrent, if tracked.
    [[nodiscard]] std::optional<rollout_detail> detail(const info_hash& hash, millis now) const;
    /// Forgets silent downloading peers and idle torrents without an expectation, in the shards
    /// i with i % parts == part.
    void expire(std::uint32_t part, std::uint32_t parts, millis now);
    /// Torrents and downloading peers tracked now.
    [[nodiscard]] std::size_t torrent_count() const { return torrents_.load(); }
    [[nodiscard]] std::size_t peer_count() const { return peers_.load(); }
    [[nodiscard]] const rollout_config& config() const { return config_; }

private:
    struct peer_key_hash {
        [[nodiscard]] std::size_t operator()(const std::array<std::uint8_t, 19>& k) const;
    };
    struct peer_record {
        millis first{0}, last{0}, progress{0};
        std::uint64_t left = 0;
    };
    struct torrent {
        std::optional<millis> first_seen;
        millis last{0};
        /// No tracked peer was last seen before this (a lower bound, exact after a sweep):
        /// expire() skips the torrent until its oldest peer may be due.
        millis oldest_peer{0};
        std::optional<std::uint32_t> expected;
        std::uint32_t completed = 0, gone = 0, untracked = 0;
        std::unordered_map<std::array<std::uint8_t, 19>, peer_record, peer_key_hash> peers;
        completion_histogram times;
        completion_series series;
    };
    struct shard {
        mutable std::mutex lock;
        std::unordered_map<info_hash, torrent> torrents;
    };
    [[nodiscard]] shard& shard_of(const info_hash& hash) const;
    torrent* find_or_add(shard& s, const info_hash& hash, millis now);
    bool evict_one(shard& s);
    void drop_peers(torrent& t);
    void complete(torrent& t, const peer_record& p, millis now);
    [[nodiscard]] rollout_summary summarize(const info_hash& hash, const torrent& t,
                                            millis now) const;

    rollout_config config_;
    std::unique_ptr<shard[]> shards_;
    std::atomic<std::size_t> torrents_{0};
    std::atomic<std::size_t> peers_{0};
};

}  // namespace minibit::tracker
