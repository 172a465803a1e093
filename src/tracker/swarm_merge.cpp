// The swarm shard's entry points for peers that did not announce here: those loaded from a
// state file and those another tracker instance shares through the store. They keep the
// shard's counters (peers, seeders) exact but count no announce and no completed download.
#include <cstring>

#include "minibit/tracker/swarm_table.hpp"
#include "peer_endpoint.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

/// The stamp of an announce `age` before `now` (ages round down to the tick: a little younger).
std::uint16_t stamp_at(seconds now, seconds age) {
    const std::int64_t tick = now.count() / stamp_tick_seconds - age.count() / stamp_tick_seconds;
    constexpr std::int64_t period = stamp_period;
    return static_cast<std::uint16_t>(((tick % period) + period) % period + 1);
}

}  // namespace

seconds swarm_shard::age_of(std::uint16_t stamp, seconds now) {
    return seconds(stamp_age(stamp_at(now, seconds(0)), stamp) * stamp_tick_seconds);
}

result<swarm*> swarm_shard::find_or_add(const info_hash& hash) {
    auto it = index_.find(hash);
    if (it == index_.end()) {
        if (swarms_.size() >= config_.max_torrents_per_shard) {
            return fail(tracker_errc::table_full, "too many torrents");
        }
        it = index_.emplace(hash, static_cast<std::uint32_t>(swarms_.size())).first;
        swarms_.push_back(entry{hash, swarm{peer_list<6>(hash_key_), peer_list<18>(hash_key_)}});
    }
    return &swarms_[it->second].peers;
}

template <std::size_t N>
void swarm_shard::merge_into(swarm& s, peer_list<N>& list, const std::array<std::uint8_t, N>& ep,
                             bool seeder, std::uint16_t stamp, seconds now) {
    const std::size_t slot = list.find(ep);
    bool was_seeder = false;
    if (slot == peer_list<N>::npos) {
        peer_record<N> rec;
        rec.set(stamp, seeder);
        (void)list.insert(ep, rec.state);
        ++peers_;
    } else {
        peer_record<N>& rec = list.at(slot);
        // Ours stays when strictly newer; within one tick the incoming record wins (a peer
        // that completed and told another instance a second later is a seeder now).
        if (age_of(rec.stamp(), now) < age_of(stamp, now)) return;
        was_seeder = rec.seeder();
        rec.set(stamp, seeder);
    }
    count_role(s, was_seeder, seeder);
}

result<void> swarm_shard::merge(const info_hash& hash, const peer_entry& e, seconds now) {
    if (e.age.count() < 0 || e.age > config_.peer_timeout) return {};
    auto s = find_or_add(hash);
    if (!s) return std::unexpected(std::move(s.error()));
    const std::uint16_t stamp = stamp_at(now, e.age);
    if (e.peer.address_bytes == 16) {
        merge_into(**s, (*s)->v6, endpoint_of<18>(e.peer), e.seeder, stamp, now);
    } else {
        merge_into(**s, (*s)->v4, endpoint_of<6>(e.peer), e.seeder, stamp, now);
    }
    return {};
}

void swarm_shard::forget(const info_hash& hash, const peer_address& p) {
    const auto it = index_.find(hash);
    if (it == index_.end()) return;
    swarm& s = swarms_[it->second].peers;
    auto drop = [&](auto& list, std::size_t i) {
        if (list.at(i).seeder()) {
            --s.seeders;
            --seeders_;
        }
        list.remove_at(i);
        --peers_;
    };
    if (p.address_bytes == 16) {
        if (const auto i = s.v6.find(endpoint_of<18>(p)); i != peer_list<18>::npos) drop(s.v6, i);
    } else if (const auto i = s.v4.find(endpoint_of<6>(p)); i != peer_list<6>::npos) {
        drop(s.v4, i);
    }
    // A swarm left empty is dropped by the next expire() pass, as after a stopped announce.
}

void swarm_shard::add_downloaded(const info_hash& hash, std::uint32_t n) {
    if (const auto it = index_.find(hash); it != index_.end())
        swarms_[it->second].peers.downloaded += n;
}

}  // namespace minibit::tracker
