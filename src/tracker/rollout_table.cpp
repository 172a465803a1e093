#include "minibit/tracker/rollout_table.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <sstream>

#include "minibit/core/small_file.hpp"

namespace minibit::tracker {
namespace {

using millis = std::chrono::milliseconds;

std::array<std::uint8_t, 19> key_of(const peer_address& p) {
    std::array<std::uint8_t, 19> k{};
    std::memcpy(k.data(), p.address.data(), 16);
    k[16] = p.address_bytes;
    k[17] = static_cast<std::uint8_t>(p.port >> 8U);
    k[18] = static_cast<std::uint8_t>(p.port & 0xffU);
    return k;
}

peer_address address_of(const std::array<std::uint8_t, 19>& k) {
    peer_address p;
    std::memcpy(p.address.data(), k.data(), 16);
    p.address_bytes = k[16];
    p.port = static_cast<std::uint16_t>((k[17] << 8U) | k[18]);
    return p;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

result<void> rollout_config::validate() const {
    if (max_torrents == 0 || max_peers == 0 || shards == 0) {
        return fail(tracker_errc::bad_config, "rollout caps and shards must be positive");
    }
    if (straggler_after.count() <= 0 || forget_after.count() <= 0) {
        return fail(tracker_errc::bad_config, "rollout durations must be positive");
    }
    return {};
}

// ---- completion_histogram ----

std::size_t completion_histogram::bucket_of(std::int64_t ms) {
    const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0));
    if (v < sub) return static_cast<std::size_t>(v);
    const int octave = static_cast<int>(std::bit_width(v)) - 1;  // >= 4
    const auto offset = (v >> static_cast<unsigned>(octave - 4)) & (sub - 1);
    return sub + static_cast<std::size_t>(octave - 4) * sub + static_cast<std::size_t>(offset);
}

std::int64_t completion_histogram::upper_of(std::size_t bucket) {
    if (bucket < sub) return static_cast<std::int64_t>(bucket);
    const std::size_t octave = (bucket - sub) / sub + 4;
    const std::size_t offset = (bucket - sub) % sub;
    const std::uint64_t low = (std::uint64_t{1} << octave) + (offset << (octave - 4));
    return static_cast<std::int64_t>(low + (std::uint64_t{1} << (octave - 4)) - 1);
}

void completion_histogram::add(std::int64_t ms) {
    ms = std::max<std::int64_t>(ms, 0);
    const std::size_t b = bucket_of(ms);
    if (buckets_.size() <= b) buckets_.resize(b + 1, 0);
    ++buckets_[b];
    ++count_;
    max_ = std::max(max_, ms);
}

std::int64_t completion_histogram::quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(
               std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
        seen += buckets_[b];
        if (seen >= rank) return std::min(upper_of(b), max_);
    }
    return max_;
}

completion_times completion_histogram::summary() const {
    return {count_, quantile(0.5), quantile(0.9), quantile(0.99), max_};
}

// ---- completion_series ----

void completion_series::add(std::int64_t at) {
    at = std::max<std::int64_t>(at, 0);
    while (at / bucket_ms_ >= static_cast<std::int64_t>(max_buckets)) {
        std::vector<std::uint32_t> merged((counts_.size() + 1) / 2, 0);
        for (std::size_t i = 0; i < counts_.size(); ++i) merged[i / 2] += counts_[i];
        counts_ = std::move(merged);
        bucket_ms_ *= 2;
    }
    const auto i = static_cast<std::size_t>(at / bucket_ms_);
    if (counts_.size() <= i) counts_.resize(i + 1, 0);
    ++counts_[i];
}

// ---- --expect files ----

result<std::vector<std::pair<info_hash, std::uint32_t>>> load_expect_file(
    const std::filesystem::path& path) {
    auto text = read_small_file(path, 64U << 20U);
    if (!text) return fail(rollout_errc::bad_file, "cannot read " + text.error().reason);
    std::istringstream in(std::move(*text));
    std::vector<std::pair<info_hash, std::uint32_t>> out;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        std::string_view s = trim(line);
        if (s.empty() || s.front() == '#') continue;
        const auto space = s.find_first_of(" \t");
        const auto hash = info_hash::from_hex(s.substr(0, space));
        std::string_view count = space == std::string_view::npos ? "" : trim(s.substr(space));
        std::uint32_t value = 0;
        const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), value);
        if (!hash || count.empty() || ec != std::errc{} || end != count.data() + count.size()) {
            return fail(rollout_errc::bad_file,
                        path.string() + ":" + std::to_string(n) +
                            ": expected INFO_HASH (40 hex digits) and a count");
        }
        out.emplace_back(*hash, value);
    }
    return out;
}

// ---- rollout_table ----

std::size_t rollout_table::peer_key_hash::operator()(const std::array<std::uint8_t, 19>& k) const {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (const std::uint8_t b : k) h = (h ^ b) * 1099511628211ULL;
    return static_cast<std::size_t>(h);
}

rollout_table::rollout_table(const rollout_config& config)
    : config_(config), shards_(std::make_unique<shard[]>(std::max(config.shards, 1U))) {
    config_.shards = std::max(config.shards, 1U);
}

rollout_table::~rollout_table() = default;

rollout_table::shard& rollout_table::shard_of(const info_hash& hash) const {
    std::uint32_t v = 0;
    std::memcpy(&v, hash.bytes.data() + 4, sizeof v);
    return shards_[v % config_.shards];
}

void rollout_table::drop_peers(torrent& t) {
    peers_.fetch_sub(t.peers.size());
    t.peers.clear();
}

bool rollout_table::evict_one(shard& s) {
    // The torrent announced least recently among those no operator expects.
    auto victim = s.torrents.end();
    for (auto it = s.torrents.begin(); it != s.torrents.end(); ++it) {
        if (it->second.expected) continue;
        if (victim == s.torrents.end() || it->second.last < victim->second.last) victim = it;
    }
    if (victim == s.torrents.end()) return false;
    drop_peers(victim->second);
    s.torrents.erase(victim);
    torrents_.fetch_sub(1);
    return true;
}

rollout_table::torrent* rollout_table::find_or_add(shard& s, const info_hash& hash, millis now) {
    if (auto it = s.torrents.find(hash); it != s.torrents.end()) return &it->second;
    if (torrents_.load() >= config_.max_torrents && !evict_one(s)) return nullptr;
    torrents_.fetch_add(1);
    torrent& t = s.torrents[hash];
    t.last = now;
    return &t;
}

void rollout_table::complete(torrent& t, const peer_record& p, millis now) {
    ++t.completed;
    t.times.add((now - p.first).count());
    t.series.add((now - t.first_seen.value_or(now)).count());
}

void rollout_table::record(const announce_input& in, millis now) {
    shard& s = shard_of(in.hash);
    const std::lock_guard lock(s.lock);
    torrent* t = find_or_add(s, in.hash, now);
    if (t == nullptr) return;
    t->last = now;
    if (!t->first_seen) t->first_seen = now;
    const bool seed = in.left == 0 || in.event == wire::announce_event::completed;
    const bool stopped = in.event == wire::announce_event::stopped;
    const auto key = key_of(in.peer);
    const auto it = t->peers.find(key);
    if (it == t->peers.end()) {
        // A peer first seen as a seed (the origin, a host that already had the data) is not a
        // completion; only downloading peers are tracked.
        if (seed || stopped) return;
        if (peers_.load() >= config_.max_peers) {
            ++t->untracked;
            return;
        }
        peers_.fetch_add(1);
        t->oldest_peer = t->peers.empty() ? now : std::min(t->oldest_peer, now);
        t->peers.emplace(key, peer_record{now, now, now, in.left});
        return;
    }
    peer_record& p = it->second;
    p.last = now;
    t->oldest_peer = std::min(t->oldest_peer, now);  // a clock stepped back keeps it a bound
    if (seed || stopped) {
        if (seed) {
            complete(*t, p, now);
        } else {
            ++t->gone;
        }
        t->peers.erase(it);
        peers_.fetch_sub(1);
        return;
    }
    if (in.left < p.left) p.progress = now;
    p.left = in.left;
}

result<void> rollout_table::set_expected(const info_hash& hash, std::optional<std::uint32_t> count,
                                         millis now) {
    shard& s = shard_of(hash);
    const std::lock_guard lock(s.lock);
    if (!count) {
        if (auto it = s.torrents.find(hash); it != s.torrents.end()) it->second.expected.reset();
        return {};
    }
    torrent* t = find_or_add(s, hash, now);
    if (t == nullptr) return fail(rollout_errc::full, "the rollout view is full");
    t->expected = count;
    return {};
}

rollout_summary rollout_table::summarize(const info_hash& hash, const torrent& t,
                                         millis now) const {
    rollout_summary out;
    out.hash = hash;
    if (t.first_seen) out.since_first_seen = now - *t.first_seen;
    out.expected = t.expected;
    out.completed = t.completed;
    out.downloading = static_cast<std::uint32_t>(t.peers.size());
    out.gone = t.gone;
    out.untracked = t.untracked;
    out.times = t.times.summary();
    for (const auto& [key, p] : t.peers) {
        if (now - p.progress >= config_.straggler_after) ++out.stragglers;
    }
    return out;
}

std::vector<rollout_summary> rollout_table::list(millis now) const {
    std::vector<rollout_summary> out;
    for (std::uint32_t i = 0; i < config_.shards; ++i) {
        const std::lock_guard lock(shards_[i].lock);
        for (const auto& [hash, t] : shards_[i].torrents) out.push_back(summarize(hash, t, now));
    }
    std::sort(out.begin(), out.end(),
              [](const rollout_summary& a, const rollout_summary& b) { return a.hash < b.hash; });
    return out;
}

std::optional<rollout_detail> rollout_table::detail(const info_hash& hash, millis now) const {
    const shard& s = shard_of(hash);
    const std::lock_guard lock(s.lock);
    const auto it = s.torrents.find(hash);
    if (it == s.torrents.end()) return std::nullopt;
    const torrent& t = it->second;
    rollout_detail d;
    d.summary = summarize(hash, t, now);
    for (const auto& [key, p] : t.peers) {
        if (now - p.progress < config_.straggler_after) continue;
        d.stragglers.push_back(straggler{address_of(key), p.left, now - p.progress, now - p.first});
    }
    std::sort(d.stragglers.begin(), d.stragglers.end(), [](const straggler& a, const straggler& b) {
        return a.since_progress > b.since_progress;
    });
    if (d.stragglers.size() > config_.max_listed) d.stragglers.resize(config_.max_listed);
    d.bucket_ms = t.series.bucket_ms();
    d.completions = t.series.counts();
    return d;
}

void rollout_table::expire(std::uint32_t part, std::uint32_t parts, millis now) {
    for (std::uint32_t i = part; i < config_.shards; i += std::max(parts, 1U)) {
        shard& s = shards_[i];
        const std::lock_guard lock(s.lock);
        for (auto it = s.torrents.begin(); it != s.torrents.end();) {
            torrent& t = it->second;
            if (!t.peers.empty() && now - t.oldest_peer >= config_.forget_after) {
                // Only a torrent whose oldest peer may be due is walked: a steady swarm is
                // swept about once per forget_after, not once per tick.
                millis oldest = now;
                std::erase_if(t.peers, [&](const auto& kv) {
                    if (now - kv.second.last < config_.forget_after) {
                        oldest = std::min(oldest, kv.second.last);
                        return false;
                    }
                    ++t.gone;
                    peers_.fetch_sub(1);
                    return true;
                });
                t.oldest_peer = oldest;
            }
            if (t.peers.empty() && !t.expected && now - t.last >= config_.forget_after) {
                it = s.torrents.erase(it);
                torrents_.fetch_sub(1);
            } else {
                ++it;
            }
        }
    }
}

}  // namespace minibit::tracker
