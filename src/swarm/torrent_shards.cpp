// torrent, several-reactors half: the shard_set (which reactor serves which shard, their
// published counters), opening a shard over a shared store, and the messages one shard gets
// from the others (a piece verified there, a peer banned there), plus releasing idle claims.
#include <algorithm>
#include <mutex>

#include <spdlog/spdlog.h>

#include "minibit/swarm/torrent.hpp"

namespace minibit::swarm {

result<std::unique_ptr<torrent>> torrent::open_shard(io::reactor& reactor, metainfo info,
                                                     std::shared_ptr<storage::piece_store> store,
                                                     std::shared_ptr<shard_set> set,
                                                     std::uint32_t shard,
                                                     const torrent_options& options) {
    if (!store || !set || shard >= set->members.size() ||
        set->pieces->piece_count() != info.piece_count()) {
        return minibit::fail(swarm_errc::bad_torrent, "shard does not match its torrent");
    }
    std::unique_ptr<torrent> t(new torrent(reactor, std::move(info), options));
    t->context_.store = std::move(store);
    t->shard_.set = std::move(set);
    t->shard_.index = shard;
    t->picker_.share(t->shard_.set->pieces.get(), shard);
    t->adopt_store_pieces();
    auto& me = *t->shard_.set->members[shard];
    me.scope = t->scope_.share();
    me.shard = t.get();
    return t;
}

shard_set::shard_set(std::uint32_t count, std::uint32_t piece_count)
    : pieces(std::make_shared<shared_pieces>(piece_count)) {
    for (std::uint32_t i = 0; i < count; ++i) {
        members.push_back(std::make_unique<member>());
    }
}

void shard_set::post(std::uint32_t k, std::function<void(torrent&)> fn) const {
    if (k >= members.size() || !members[k]->scope) {
        return;
    }
    const member& m = *members[k];
    m.scope.post([shard = m.shard, fn = std::move(fn)] { fn(*shard); });
}

torrent_stats shard_set::total() const {
    torrent_stats sum;
    bool first = true;
    for (const auto& m : members) {
        std::lock_guard lock(m->stats_mutex);
        const torrent_stats& s = m->stats;
        if (first) {
            sum = s;
            first = false;
            continue;
        }
        for (std::size_t i = 0; i < message_kinds; ++i) {
            sum.messages_sent[i] += s.messages_sent[i];
            sum.messages_received[i] += s.messages_received[i];
        }
        sum.keepalives_sent += s.keepalives_sent;
        sum.keepalives_received += s.keepalives_received;
        sum.payload_bytes_down += s.payload_bytes_down;
        sum.payload_bytes_up += s.payload_bytes_up;
        sum.wire_bytes_down += s.wire_bytes_down;
        sum.wire_bytes_up += s.wire_bytes_up;
        sum.duplicate_blocks += s.duplicate_blocks;
        sum.requests_timed_out += s.requests_timed_out;
        sum.connections_out += s.connections_out;
        sum.connections_in += s.connections_in;
        sum.connect_failures += s.connect_failures;
        sum.disconnects += s.disconnects;
        sum.protocol_violations += s.protocol_violations;
        sum.pieces_verified += s.pieces_verified;
        sum.hash_failures += s.hash_failures;
        sum.peers_banned += s.peers_banned;
        sum.peers_connected += s.peers_connected;
        sum.peers_unchoking_us += s.peers_unchoking_us;
        sum.download_rate += s.download_rate;
        sum.upload_rate += s.upload_rate;
        sum.seconds_running = std::max(sum.seconds_running, s.seconds_running);
        if (s.seconds_to_complete) {
            sum.seconds_to_complete = std::max(sum.seconds_to_complete.value_or(0.0),
                                               *s.seconds_to_complete);
        }
        if (s.seconds_to_first_block) {
            sum.seconds_to_first_block = std::min(
                sum.seconds_to_first_block.value_or(*s.seconds_to_first_block),
                *s.seconds_to_first_block);
        }
        if (!s.last_violation.empty()) sum.last_violation = s.last_violation;
    }
    sum.pieces_have = pieces->verified_count();
    return sum;
}

void torrent::tell_other_shards(const std::function<void(torrent&)>& fn) {
    for (std::uint32_t k = 0; k < shard_.set->members.size(); ++k) {
        if (k != shard_.index) {
            shard_.set->post(k, fn);
        }
    }
}

void torrent::release_idle_claims() {
    // A claimed piece that no peer here is asked for, two ticks running, goes back to the
    // shared pool (its received blocks are dropped) so peers on another reactor can fetch it.
    std::map<piece_index, std::uint32_t> still_idle;
    for (piece_index p : picker_.idle_claims()) {
        const std::uint32_t ticks = shard_.idle_ticks[p] + 1;
        if (ticks >= 2) {
            picker_.abandon(p);
            ban_.forget_senders(p);
        } else {
            still_idle[p] = ticks;
        }
    }
    shard_.idle_ticks = std::move(still_idle);
}

void torrent::publish_stats() {
    auto& me = *shard_.set->members[shard_.index];
    const torrent_stats s = stats();
    std::lock_guard lock(me.stats_mutex);
    me.stats = s;
}

void torrent::on_remote_piece(piece_index piece) {
    if (piece.get() >= info_.piece_count() || have_.test(piece)) {
        return;
    }
    picker_.on_piece_passed(piece);
    announce_piece(piece);
}

void torrent::on_remote_ban(const std::string& addr, const std::optional<wire::peer_id>& id) {
    (void)ban_.ban(addr, id);
    std::vector<std::shared_ptr<peer_connection>> hit;
    for (const auto& [slot, p] : peers_.live()) {
        if (p->remote().to_string() == addr || (id && p->id() && *p->id() == *id)) {
            hit.push_back(p);
        }
    }
    for (auto& p : hit) {
        p->close(close_reason::policy, "banned on another reactor for sending bad data");
    }
}

}  // namespace minibit::swarm
