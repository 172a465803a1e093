// torrent, origin half: a complete torrent started with seed_policy::origin shows each peer a
// few pieces at a time by HAVE (origin_plan.hpp decides which), tops the offers up when the
// peer announces a piece, and on every tick for peers that starve.
#include <algorithm>
#include <chrono>

#include "minibit/swarm/torrent.hpp"

namespace minibit::swarm {
namespace {

std::chrono::milliseconds ms(io::reactor::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
}

}  // namespace

void torrent::origin_start() {
    if (options_.seeding != seed_policy::origin || !complete() || origin_) {
        return;
    }
    origin_config config;
    config.copies = std::max<std::uint32_t>(1, options_.origin_copies);
    // A starving peer waits at least a few rechokes: a choked one gets its turn in that time.
    // An adaptive rechoke (no interval set) starts at its minimum period.
    const std::chrono::milliseconds rechoke = options_.rechoke_interval > 0ms
                                                  ? options_.rechoke_interval
                                                  : options_.min_rechoke_interval;
    config.starve_after = std::max(std::chrono::milliseconds{3000}, 3 * rechoke);
    config.spread_window = std::max(std::chrono::milliseconds{1000}, rechoke);
    // Pieces smaller than the 2 x 256 KiB that keep a WAN pipeline busy: show more at a time.
    constexpr std::uint64_t busy_bytes = std::uint64_t{512} * 1024;
    config.offers_per_peer = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
        busy_bytes / std::max<std::uint64_t>(1, info_.piece_length), 2, 16));
    origin_ = std::make_unique<origin_plan>(info_.piece_count(), config);
}

void torrent::origin_offer(peer_connection& peer) {
    if (!origin_ || !peer.ready()) {
        return;
    }
    origin_->add_peer_once(peer.slot(), ms(peer.connected_at()));
    const auto copies = [this](piece_index p) { return availability(p); };
    for (piece_index p :
         origin_->offers(peer.slot(), peer.has(), copies, ms(context_.reactor.now()), rng_)) {
        peer.send_have(p);
    }
}

void torrent::on_served(peer_connection& peer, const wire::block_ref& block) {
    if (origin_ &&
        origin_->on_block_served(peer.slot(), block.piece, picker_.blocks_in(block.piece))) {
        origin_->on_progress(peer.slot(), ms(context_.reactor.now()));
        origin_offer(peer);  // it took a shown piece: show the next
    }
}

void torrent::origin_progress(peer_connection& peer) {
    if (!origin_) {
        return;
    }
    origin_->add_peer_once(peer.slot(), ms(peer.connected_at()));
    origin_->on_progress(peer.slot(), ms(context_.reactor.now()));
    origin_offer(peer);
}

void torrent::origin_gone(peer_connection& peer) {
    if (origin_) {
        origin_->remove_peer(peer.slot(), peer.has());
    }
}

void torrent::origin_tick() {
    if (!origin_) {
        return;
    }
    for (auto& p : peers_.snapshot()) {
        origin_offer(*p);
    }
}

}  // namespace minibit::swarm
