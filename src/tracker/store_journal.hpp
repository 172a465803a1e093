// The announces a shared store has yet to write through: one vector per shard, appended by the
// announce path while it holds that shard's lock and taken by the store's thread under the same
// lock, so the hot path adds one branch and one 40-byte append and no lock of its own. Off (no
// appends) while the store is unreachable; a resynchronisation then pushes the whole table.
// Private to tracker/.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "minibit/core/sha1.hpp"
#include "minibit/core/units.hpp"
#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {

/// What happened to a peer (bits of journal_entry::flags).
inline constexpr std::uint8_t journal_seeder = 1;     ///< announced with left = 0
inline constexpr std::uint8_t journal_stopped = 2;    ///< left the swarm (BEP 3 stopped)
inline constexpr std::uint8_t journal_completed = 4;  ///< a completed event

/// One announce: 40 bytes, IPv4 endpoints use the first 6 endpoint bytes.
struct journal_entry {
    info_hash hash;
    std::array<std::uint8_t, 18> endpoint{};
    std::uint8_t endpoint_bytes = 6;  ///< 6 (IPv4) or 18 (IPv6), BEP 23 / BEP 7 order
    std::uint8_t flags = 0;
};
static_assert(sizeof(journal_entry) == 40);

/// The compact endpoint of a peer (address then big-endian port) into `e`.
inline void set_endpoint(journal_entry& e, const peer_address& p) {
    const std::size_t ip = p.address_bytes == 16 ? 16 : 4;
    std::memcpy(e.endpoint.data(), p.address.data(), ip);
    e.endpoint[ip] = static_cast<std::uint8_t>(p.port >> 8U);
    e.endpoint[ip + 1] = static_cast<std::uint8_t>(p.port & 0xffU);
    e.endpoint_bytes = static_cast<std::uint8_t>(ip + 2);
}

/// Per-shard journals of announces.
class store_journal {
public:
    /// Journals announces of `shards` shards, at most `max_per_shard` each between two takes.
    store_journal(std::uint32_t shards, std::size_t max_per_shard)
        : per_shard_(shards), max_per_shard_(max_per_shard) {}

    /// Records one announce; the caller holds the lock of shard `id`.
    void record(shard_id id, const announce_input& in) {
        if (!enabled_.load(std::memory_order_relaxed)) return;
        auto& v = per_shard_[id.get()];
        if (v.size() >= max_per_shard_) {
            overflowed_.store(true, std::memory_order_relaxed);
            return;
        }
        journal_entry& e = v.emplace_back();
        e.hash = in.hash;
        set_endpoint(e, in.peer);
        e.flags = static_cast<std::uint8_t>(
            (in.left == 0 ? journal_seeder : 0) |
            (in.event == wire::announce_event::stopped ? journal_stopped : 0) |
            (in.event == wire::announce_event::completed ? journal_completed : 0));
    }
    /// Moves shard `id`'s entries to the end of `into`; the caller holds that shard's lock.
    void take(shard_id id, std::vector<journal_entry>& into) {
        auto& v = per_shard_[id.get()];
        into.insert(into.end(), v.begin(), v.end());
        v.clear();
    }
    /// Starts or stops recording (relaxed: an announce racing the switch may go either way,
    /// and the resynchronisation that follows a switch on covers it).
    void set_enabled(bool on) { enabled_.store(on, std::memory_order_relaxed); }
    /// True (once) when some shard dropped entries since the last call.
    [[nodiscard]] bool take_overflow() { return overflowed_.exchange(false); }

private:
    std::vector<std::vector<journal_entry>> per_shard_;  ///< guarded by the shard locks
    std::size_t max_per_shard_;
    std::atomic<bool> enabled_{false};
    std::atomic<bool> overflowed_{false};
};

}  // namespace minibit::tracker
