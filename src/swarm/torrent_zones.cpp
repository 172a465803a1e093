// torrent, zone half: which connected peers share our zone (same /24 or /64 as our side of the
// connection), and the roster that limits what peers outside the zone are asked for.
#include <spdlog/spdlog.h>

#include "minibit/swarm/torrent.hpp"

namespace minibit::swarm {

void torrent::zone_join(io::connection conn, peer_slot slot, const io::address& addr) {
    if (!options_.zone_aware) return;
    const auto local = context_.reactor.local_address(conn.id());
    if (!local) return;  // unknown: the peer counts as outside no zone rule (asked for anything)
    if (!zone_.self_known) {
        zone_.roster.set_self(host_key(*local));
        zone_.self_known = true;
    }
    slot_record& rec = peers_.record(slot);
    rec.in_zone = same_default_zone(*local, addr);
    if (rec.in_zone) zone_.roster.add_member(host_key(addr));
    spdlog::debug("peer {}: {} our zone", addr.to_string(), rec.in_zone ? "in" : "outside");
}

void torrent::zone_leave(peer_slot slot) {
    slot_record& rec = peers_.record(slot);
    if (rec.in_zone) zone_.roster.remove_member(host_key(rec.addr));
}

const zone_roster* torrent::zone_rule(peer_slot slot) {
    if (!options_.zone_aware || !zone_.self_known || in_zone(slot)) return nullptr;
    return &zone_.roster;
}

void torrent::zone_tick(clock::time_point now) {
    if (!options_.zone_aware || complete()) return;
    if (zone_.last_fresh_block == clock::time_point{}) zone_.last_fresh_block = now;
    const bool stalled = now - zone_.last_fresh_block >= options_.zone_relax_after;
    if (stalled == zone_.roster.relaxed()) return;
    zone_.roster.set_relaxed(stalled);
    if (!stalled) return;
    spdlog::info("torrent {}: no fresh block for {} ms: any piece may come from outside the zone",
                 info_.name, options_.zone_relax_after.count());
    for (const auto& [s, p] : peers_.live()) {
        p->fill_requests();
    }
}

}  // namespace minibit::swarm
