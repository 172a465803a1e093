#include "minibit/swarm/torrent.hpp"

#include <algorithm>
#include <mutex>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

#include "minibit/swarm/peer_policy.hpp"

namespace minibit::swarm {
namespace {

/// Azureus-style peer id: client tag and version, then random bytes (BEP 20).
wire::peer_id make_peer_id() {
    wire::peer_id id;
    constexpr std::string_view prefix = "-MB0010-";
    std::copy(prefix.begin(), prefix.end(), id.bytes.begin());
    std::random_device rd;
    for (std::size_t i = prefix.size(); i < id.bytes.size(); ++i) {
        id.bytes[i] = static_cast<std::uint8_t>('a' + rd() % 26U);
    }
    return id;
}

std::uint32_t last_piece_length(const metainfo& m) {
    return m.piece_count() == 0
               ? 0
               : static_cast<std::uint32_t>(m.piece_size(piece_index{m.piece_count() - 1}));
}

}  // namespace

torrent::torrent(io::reactor& reactor, metainfo info, const torrent_options& options)
    : reactor_(reactor),
      info_(std::move(info)),
      options_(options),
      local_id_(make_peer_id()),
      picker_(info_.piece_count(), static_cast<std::uint32_t>(info_.piece_length),
              last_piece_length(info_),
              picker_config{options.random_first_pieces, 2}),
      have_(info_.piece_count()),
      rng_(std::random_device{}()),
      alive_(std::make_shared<int>(0)),
      hashing_(std::make_shared<std::atomic<std::uint32_t>>(0)) {}

result<std::unique_ptr<torrent>> torrent::open(io::reactor& reactor, metainfo info,
                                               const std::filesystem::path& folder,
                                               const torrent_options& options,
                                               const storage::store_options& store) {
    if (info.piece_length == 0 || info.piece_length > (1ULL << 31U) || info.piece_count() == 0) {
        return minibit::fail(swarm_errc::bad_torrent, "piece length or count out of range");
    }
    std::unique_ptr<torrent> t(new torrent(reactor, std::move(info), options));
    auto opened = storage::piece_store::open(t->info_, folder, store);
    if (!opened) {
        return minibit::fail(swarm_errc::storage, opened.error().message());
    }
    t->store_ = std::move(*opened);
    t->adopt_store_pieces();
    return t;
}

void torrent::adopt_store_pieces() {
    for (piece_index p{0}; p.get() < info_.piece_count(); ++p) {
        if (store_->have().test(p)) {
            picker_.mark_have(p);
            have_.set(p);
        }
    }
    stats_.piece_count = info_.piece_count();
    completed_ = have_.all();
}

torrent::~torrent() {
    if (running_) {
        stop();
    }
    alive_.reset();
    // A worker still hashing one of our pieces posts to our reactor before it counts down;
    // wait for it (a piece hash takes milliseconds), so it never touches a dead reactor.
    for (auto n = hashing_->load(); n != 0; n = hashing_->load()) {
        hashing_->wait(n);
    }
}

bool torrent::complete() const { return have_.all(); }

std::uint32_t torrent::availability(piece_index p) const {
    return shards_ ? shards_->pieces->availability(p) : picker_.availability(p);
}

std::uint64_t torrent::bytes_left() const {
    std::uint64_t left = 0;
    for (piece_index p{0}; p.get() < info_.piece_count(); ++p) {
        if (!have_.test(p)) {
            left += info_.piece_size(p);
        }
    }
    return left;
}

wire::torrent_bounds torrent::bounds() const {
    return {info_.piece_count(), static_cast<std::uint32_t>(info_.piece_length),
            last_piece_length(info_)};
}

std::size_t torrent::peer_count() const {
    return static_cast<std::size_t>(std::count_if(
        peers_.begin(), peers_.end(), [](const auto& e) { return e.second->ready(); }));
}

torrent_stats torrent::stats() const {
    torrent_stats s = stats_;
    const auto now = reactor_.now();
    s.pieces_have = static_cast<std::uint32_t>(have_.count());
    s.peers_connected = static_cast<std::uint32_t>(peer_count());
    s.download_rate = down_.rate(now);
    s.upload_rate = up_.rate(now);
    s.seconds_running = running_ || started_ != clock::time_point{}
                            ? std::chrono::duration<double>(now - started_).count()
                            : 0.0;
    return s;
}

// ---- lifecycle ---------------------------------------------------------------------------

void torrent::start() {
    if (running_) {
        return;
    }
    running_ = true;
    started_ = reactor_.now();
    arm_timers();
    spdlog::info("torrent {}: started, {}/{} pieces present", info_.name, have_.count(),
                 info_.piece_count());
    if (completed_) {
        std::weak_ptr<int> alive = alive_;
        reactor_.post([this, alive] {
            if (alive.lock() && on_complete_) on_complete_();
        });
    }
}

void torrent::arm_timers() {
    std::weak_ptr<int> alive = alive_;
    tick_timer_ = reactor_.add_timer(options_.tick_interval, [this, alive] {
        if (alive.lock() && running_) tick();
    });
    rechoke_timer_ = reactor_.add_timer(options_.rechoke_interval, [this, alive] {
        if (alive.lock() && running_) rechoke_and_rearm();
    });
}

void torrent::rechoke_and_rearm() {
    rechoke();
    std::weak_ptr<int> alive = alive_;
    rechoke_timer_ = reactor_.add_timer(options_.rechoke_interval, [this, alive] {
        if (alive.lock() && running_) rechoke_and_rearm();
    });
}

void torrent::tick() {
    const auto now = reactor_.now();
    // Copy: a tick may close peers, and closes finish later, but keep the map stable anyway.
    std::vector<std::shared_ptr<peer_connection>> live;
    live.reserve(peers_.size());
    for (auto& [slot, p] : peers_) {
        live.push_back(p);
    }
    for (auto& p : live) {
        p->update_interest();
        p->on_tick(now);
    }
    if (shards_) {
        release_idle_claims();
        publish_stats();
    }
    std::weak_ptr<int> alive = alive_;
    tick_timer_ = reactor_.add_timer(options_.tick_interval, [this, alive] {
        if (alive.lock() && running_) tick();
    });
}

void torrent::stop() {
    if (!running_) {
        return;
    }
    running_ = false;
    reactor_.cancel_timer(tick_timer_);
    reactor_.cancel_timer(rechoke_timer_);
    std::vector<std::shared_ptr<peer_connection>> live;
    for (auto& [slot, p] : peers_) {
        live.push_back(p);
    }
    for (auto& p : live) {
        p->close(close_reason::shutdown, "torrent stopping");
    }
    if (shards_) {
        publish_stats();
        if (shard_ != 0) {
            return;  // the first shard owns the store's bookkeeping and the resume file
        }
    }
    if (auto saved = store_->save_resume(); !saved) {
        spdlog::warn("torrent {}: cannot save resume data: {}", info_.name,
                     saved.error().message());
    }
}

void torrent::fail(const error& e) {
    spdlog::error("torrent {}: {}", info_.name, e.message());
    stop();
    if (on_error_) {
        on_error_(e);
    }
}

// ---- connections -------------------------------------------------------------------------

void torrent::connect(const io::address& peer) {
    const std::string key = peer.to_string();
    if (!running_ || banned_addrs_.contains(key) || connecting_.contains(key) ||
        peers_.size() + connecting_.size() >= options_.max_peers) {
        return;
    }
    for (const auto& [slot, p] : peers_) {
        if (p->remote() == peer) {
            return;
        }
    }
    const auto now = reactor_.now();
    const auto last = last_attempt_.find(key);
    if (last != last_attempt_.end() && now - last->second < options_.reconnect_interval) {
        return;
    }
    last_attempt_[key] = now;
    connecting_.insert(key);
    std::weak_ptr<int> alive = alive_;
    reactor_.connect(peer, [this, alive, peer, key](result<io::connection> c) {
        if (!alive.lock()) {
            if (c) c->owner()->close(c->id());
            return;
        }
        connecting_.erase(key);
        if (!c) {
            ++stats_.connect_failures;
            spdlog::debug("peer {}: connect failed: {}", key, c.error().message());
            return;
        }
        if (!running_ || peers_.size() >= options_.max_peers) {
            reactor_.close(c->id());
            return;
        }
        ++stats_.connections_out;
        (void)add_peer(*c, peer, peer_direction::outgoing);
    });
}

void torrent::adopt(io::connection conn, const io::address& peer) {
    if (!running_ || peers_.size() >= options_.max_peers) {
        reactor_.close(conn.id());
        return;
    }
    ++stats_.connections_in;
    (void)add_peer(conn, peer, peer_direction::incoming);
}

std::shared_ptr<peer_connection> torrent::add_peer(io::connection conn, const io::address& addr,
                                                   peer_direction dir) {
    const peer_slot slot{next_slot_++};
    slots_[slot.get()].addr = addr;
    auto p = std::make_shared<peer_connection>(*this, conn, addr, slot, dir);
    peers_[slot.get()] = p;
    spdlog::debug("peer {}: {} connection", addr.to_string(),
                  dir == peer_direction::outgoing ? "outgoing" : "incoming");
    p->start();
    return p;
}

bool torrent::accept_handshake(peer_connection& peer, const wire::peer_id& id) {
    if (id == local_id_ || banned_ids_.contains(id)) {
        return false;
    }
    for (auto& [slot, p] : peers_) {
        if (p.get() == &peer || !p->id() || *p->id() != id || p->closing()) {
            continue;
        }
        // Two connections between the same pair (both dialled at once): both ends keep the
        // one dialled by the peer with the smaller id, so they agree without talking.
        const auto newer = peer.direction() == peer_direction::outgoing ? dialled_by::us
                                                                        : dialled_by::them;
        if (!keep_newer_connection(local_id_, id, newer)) {
            return false;
        }
        p->close(close_reason::policy, "duplicate connection");
        break;
    }
    slots_[peer.slot().get()].id = id;
    return true;
}

peer_connection* torrent::find_peer(peer_slot slot) {
    const auto it = peers_.find(slot.get());
    return it == peers_.end() ? nullptr : it->second.get();
}

void torrent::on_peer_closed(peer_connection& peer) {
    const peer_slot slot = peer.slot();
    const std::size_t returned = picker_.on_peer_gone(slot).size();
    if (returned > 0) {
        spdlog::info("peer {}: gone with {} requested blocks, back to the picker",
                     peer.remote().to_string(), returned);
    }
    forget_peer_pieces(peer);
    ++stats_.disconnects;
    const auto keep = peers_[slot.get()];  // alive until the end of this call
    peers_.erase(slot.get());
    // The blocks it held are free again: let the others pick them up now.
    for (auto& [s, p] : peers_) {
        p->fill_requests();
    }
}

void torrent::on_peer_bitfield(peer_connection& peer, const bitfield& bits) {
    shared_pieces* shared = shards_ ? shards_->pieces.get() : nullptr;
    if (bits.all()) {
        seeds_counted_.insert(peer.slot().get());
        picker_.add_seed();
        if (shared != nullptr) shared->add_seed();
    } else {
        picker_.add_peer(bits);
        if (shared != nullptr) shared->add_bitfield(bits);
    }
}

void torrent::forget_peer_pieces(peer_connection& peer) {
    shared_pieces* shared = shards_ ? shards_->pieces.get() : nullptr;
    if (seeds_counted_.erase(peer.slot().get()) > 0) {
        picker_.remove_seed();
        if (shared != nullptr) shared->remove_seed();
    } else {
        picker_.remove_peer(peer.has());
        if (shared != nullptr) shared->remove_bitfield(peer.has());
    }
}

void torrent::on_peer_have(piece_index piece) {
    picker_.on_have(piece);
    if (shards_) shards_->pieces->add_have(piece);
}

// ---- choking -----------------------------------------------------------------------------

void torrent::on_peer_interested(peer_connection& peer) {
    if (!peer.am_choking()) {
        return;
    }
    const auto unchoked = std::count_if(peers_.begin(), peers_.end(), [](const auto& e) {
        return e.second->ready() && !e.second->am_choking();
    });
    // A free slot need not wait for the next rechoke.
    if (static_cast<std::uint64_t>(unchoked) < options_.unchoke_slots + 1U) {
        peer.set_choking(false);
    }
}

void torrent::rechoke() {
    const auto now = reactor_.now();
    std::vector<choker_peer> snapshot;
    for (const auto& [slot, p] : peers_) {
        if (!p->ready()) {
            continue;
        }
        choker_peer c;
        c.id = p->slot();
        c.interested = p->peer_interested();
        c.am_choking = p->am_choking();
        c.download_rate = static_cast<std::uint64_t>(p->download_rate(now));
        c.upload_rate = static_cast<std::uint64_t>(p->upload_rate(now));
        c.snubbed = p->snubbed();
        c.connected_at = std::chrono::duration_cast<std::chrono::milliseconds>(
            p->connected_at().time_since_epoch());
        c.is_seed = p->is_seed();
        snapshot.push_back(c);
    }
    choker_config config;
    config.slots = options_.unchoke_slots;
    config.rechoke_interval = options_.rechoke_interval;
    config.optimistic_every_rechokes = options_.optimistic_every_rechokes;
    const auto decision =
        swarm::rechoke(snapshot, complete() ? choke_mode::seed : choke_mode::leech, config,
                       choker_state_,
                       std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()),
                       rng_);
    choker_state_ = decision.next;
    for (peer_slot s : decision.to_choke) {
        if (auto* p = find_peer(s)) p->set_choking(true);
    }
    for (peer_slot s : decision.to_unchoke) {
        if (auto* p = find_peer(s)) p->set_choking(false);
    }
}

}  // namespace minibit::swarm
