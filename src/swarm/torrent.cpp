// torrent, engine half: opening, start and stop, the tick and rechoke timers, connections (dial,
// adopt, handshake, bitfields, close) and choking.
#include "minibit/swarm/torrent.hpp"
#include "minibit/swarm/connection_budget.hpp"

#include <algorithm>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

#include "minibit/core/assert.hpp"
#include "minibit/io/worker_pool.hpp"
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

wire::torrent_bounds bounds_of(const metainfo& m) {
    const std::uint32_t last = m.piece_count() == 0 ? 0
                                                    : static_cast<std::uint32_t>(m.piece_size(
                                                          piece_index{m.piece_count() - 1}));
    return {m.piece_count(), static_cast<std::uint32_t>(m.piece_length), last};
}

torrent_options with_pool(torrent_options o) {
    if (!o.hashing) {
        o.hashing = std::make_shared<io::worker_pool>();
    }
    return o;
}

}  // namespace

torrent::torrent(io::reactor& reactor, metainfo info, const torrent_options& options)
    : info_(std::move(info)),
      options_(with_pool(options)),
      picker_(info_.piece_count(), static_cast<std::uint32_t>(info_.piece_length),
              bounds_of(info_).last_piece_length, picker_config{options.random_first_pieces, 2}),
      have_(info_.piece_count()),
      context_{reactor, options_,       info_.hash,    make_peer_id(), bounds_of(info_),
               have_,   traffic_.stats, traffic_.down, traffic_.up,    nullptr},
      rng_(std::random_device{}()),
      ban_(options_.ban_after_failures),
      scope_(reactor) {}

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
    t->context_.store = std::move(*opened);
    t->adopt_store_pieces();
    return t;
}

void torrent::adopt_store_pieces() {
    for (piece_index p{0}; p.get() < info_.piece_count(); ++p) {
        if (store().have().test(p)) {
            picker_.mark_have(p);
            have_.set(p);
        }
    }
    traffic_.stats.piece_count = info_.piece_count();
    life_.completed = have_.all();
}

torrent::~torrent() {
    if (life_.running) {
        stop();
    }
    if (options_.connections && life_.budget_held > 0) {
        options_.connections->give_back(life_.budget_held);  // peers and dials never closed
    }
}

bool torrent::take_budget(peer_direction direction) {
    if (!options_.connections) return true;
    // A torrent holding no unit may dial past the dial share (one dial at a time): a late
    // joiner among torrents that took the share between them still finds its first peer.
    auto& budget = *options_.connections;
    const bool dial = direction == peer_direction::outgoing && life_.budget_held > 0;
    if (!(dial ? budget.try_take_dial() : budget.try_take())) {
        return false;  // the budget counts it
    }
    ++life_.budget_held;
    return true;
}

void torrent::give_budget() {
    if (!options_.connections || life_.budget_held == 0) return;
    --life_.budget_held;
    options_.connections->give_back();
}

void torrent::release_idle_at_budget(clock::time_point now) {
    if (!options_.connections || !options_.connections->dials_refused()) return;
    // Connections between peers that hold the same pieces carry nothing, yet hold units a
    // torrent with no peer (or a peer with pieces) needs: at the limit they give way.
    for (auto& p : peers_.snapshot()) {
        if (!p->ready() || p->am_interested() || p->peer_interested() ||
            now - p->connected_at() < options_.budget_idle_release || p->download_rate(now) > 0 ||
            p->upload_rate(now) > 0) {
            continue;
        }
        p->close(close_reason::policy, "idle at the connection limit");
    }
}

std::uint32_t torrent::availability(piece_index p) const {
    return shard_.set ? shard_.set->pieces->availability(p) : picker_.availability(p);
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

std::size_t torrent::peer_count() const {
    const auto& live = peers_.live();
    return static_cast<std::size_t>(
        std::count_if(live.begin(), live.end(), [](const auto& e) { return e.second->ready(); }));
}

torrent_stats torrent::stats() const {
    torrent_stats s = traffic_.stats;
    const auto now = context_.reactor.now();
    s.pieces_have = static_cast<std::uint32_t>(have_.count());
    s.peers_connected = static_cast<std::uint32_t>(peer_count());
    for (const auto& [slot, peer] : peers_.live()) {
        if (peer->ready() && !peer->peer_choking()) ++s.peers_unchoking_us;
    }
    s.download_rate = traffic_.down.rate(now);
    s.upload_rate = traffic_.up.rate(now);
    s.seconds_running = life_.running || life_.started != clock::time_point{}
                            ? std::chrono::duration<double>(now - life_.started).count()
                            : 0.0;
    return s;
}

// ---- lifecycle ---------------------------------------------------------------------------

void torrent::start() {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "torrent used off its reactor thread");
    if (life_.running) {
        return;
    }
    life_.running = true;
    life_.started = context_.reactor.now();
    origin_start();
    arm_tick();
    arm_rechoke();
    spdlog::info("torrent {}: started, {}/{} pieces present", info_.name, have_.count(),
                 info_.piece_count());
    if (life_.completed) {
        scope_.post([this] {
            if (life_.on_complete) life_.on_complete();
        });
    }
}

void torrent::arm_tick() {
    life_.tick_armed = true;
    life_.tick_timer = scope_.add_timer(options_.tick_interval, [this] {
        life_.tick_armed = false;
        if (life_.running) tick();
    });
}

void torrent::arm_rechoke() {
    // Adaptive unless set: about 40 round trips of the median peer (peer_policy.hpp).
    std::vector<std::chrono::microseconds> round_trips;
    for (const auto& [slot, p] : peers_.live()) {
        if (!p->ready()) continue;
        if (const auto rtt = p->round_trip()) round_trips.push_back(*rtt);
    }
    const auto period = rechoke_period(round_trips, options_);
    if (period != life_.rechoke_period) {
        spdlog::debug("torrent {}: rechoke every {} ms ({} peer round trips)", info_.name,
                      period.count(), round_trips.size());
    }
    life_.rechoke_period = period;
    life_.rechoke_timer = scope_.add_timer(life_.rechoke_period, [this] {
        if (!life_.running) return;
        rechoke();
        arm_rechoke();
    });
}

void torrent::tick() {
    const auto now = context_.reactor.now();
    // A copy: a tick may close peers (closes finish later, but keep the walk stable anyway).
    for (auto& p : peers_.snapshot()) {
        p->update_interest();
        p->on_tick(now);
    }
    release_idle_at_budget(now);
    if (shard_.set) {
        release_idle_claims();
        publish_stats();
    }
    origin_tick();
    zone_tick(now);
    // A torrent without peers (or shards to report to) has nothing to tick; add_peer wakes it.
    // An agent seeding 1,000 idle torrents would otherwise wake 2,000 times a second.
    if (peers_.size() > 0 || shard_.set) arm_tick();
}

void torrent::stop() {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "torrent used off its reactor thread");
    if (!life_.running) {
        return;
    }
    life_.running = false;
    life_.tick_armed = false;
    scope_.cancel_timer(life_.tick_timer);
    scope_.cancel_timer(life_.rechoke_timer);
    for (auto& p : peers_.snapshot()) {
        p->close(close_reason::shutdown, "torrent stopping");
    }
    if (shard_.set) {
        publish_stats();
        if (shard_.index != 0) {
            return;  // the first shard owns the store's bookkeeping and the resume file
        }
    }
    if (auto saved = store().save_resume(); !saved) {
        spdlog::warn("torrent {}: cannot save resume data: {}", info_.name,
                     saved.error().message());
    }
}

void torrent::fail(const error& e) {
    spdlog::error("torrent {}: {}", info_.name, e.message());
    stop();
    if (life_.on_error) {
        life_.on_error(e);
    }
}

// ---- connections -------------------------------------------------------------------------

void torrent::connect(const io::address& peer) {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "torrent used off its reactor thread");
    // A seed has nothing to give a seed (the connection would end at the bitfields): like
    // libtorrent, once complete we do not dial addresses that showed a seed. Their own dials
    // still reach us.
    if (!life_.running || ban_.banned(peer.to_string()) ||
        (life_.completed && peers_.known_seed(peer)) ||
        !peers_.begin_connect(
            peer, context_.reactor.now(), options_.reconnect_interval,
            {.all = options_.max_peers, .dialled = dial_limit(options_.max_peers)})) {
        return;
    }
    if (!take_budget(peer_direction::outgoing)) {
        peers_.end_connect(peer);
        return;
    }
    scope_.connect(peer, [this, peer](result<io::connection> c) {
        peers_.end_connect(peer);
        if (!c) {
            give_budget();
            ++traffic_.stats.connect_failures;
            spdlog::debug("peer {}: connect failed: {}", peer.to_string(), c.error().message());
            return;
        }
        if (!life_.running || peers_.size() >= options_.max_peers) {
            give_budget();
            context_.reactor.close(c->id());
            return;
        }
        ++traffic_.stats.connections_out;
        add_peer(*c, peer, peer_direction::outgoing, {});
    });
}

void torrent::adopt(io::connection conn, const io::address& peer,
                    std::span<const std::byte> already_received) {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "torrent used off its reactor thread");
    if (!life_.running || peers_.size() >= options_.max_peers ||
        !take_budget(peer_direction::incoming)) {
        if (life_.running && peers_.size() >= options_.max_peers) {
            ++traffic_.stats.connections_refused;
            if (options_.connections) options_.connections->count_refused();
        }
        context_.reactor.close(conn.id());
        return;
    }
    ++traffic_.stats.connections_in;
    add_peer(conn, peer, peer_direction::incoming, already_received);
}

void torrent::add_peer(io::connection conn, const io::address& addr, peer_direction dir,
                       std::span<const std::byte> already_received) {
    const peer_slot slot = peers_.open_slot(addr);
    peer_host& host = *this;  // the base is private: only the torrent hands itself out
    auto p = std::make_shared<peer_connection>(host, context_, conn, addr, slot, dir);
    peers_.insert(p);
    zone_join(conn, slot, addr);
    if (life_.running && !life_.tick_armed) arm_tick();
    spdlog::debug("peer {}: {} connection", addr.to_string(),
                  dir == peer_direction::outgoing ? "outgoing" : "incoming");
    p->start(already_received);
}

bool torrent::accept_handshake(peer_connection& peer, const wire::peer_id& id) {
    if (id == context_.local_id || ban_.banned(id)) {
        return false;
    }
    for (const auto& [slot, p] : peers_.live()) {
        if (p.get() == &peer || !p->id() || *p->id() != id || p->closing()) {
            continue;
        }
        // Two connections between the same pair (both dialled at once): both ends keep the
        // one dialled by the peer with the smaller id, so they agree without talking.
        const auto newer = peer.direction() == peer_direction::outgoing ? dialled_by::us
                                                                        : dialled_by::them;
        if (!keep_newer_connection(context_.local_id, id, newer)) {
            return false;
        }
        p->close(close_reason::policy, "duplicate connection");
        break;
    }
    peers_.record(peer.slot()).id = id;
    if (origin_) {
        // After our first messages (sent once this returns): the peer's first pieces.
        scope_.post([this, slot = peer.slot()] {
            if (auto* p = peers_.find(slot)) origin_offer(*p);
        });
    }
    return true;
}

void torrent::on_closed(peer_connection& peer) {
    const peer_slot slot = peer.slot();
    const std::size_t returned = picker_.on_peer_gone(slot).size();
    if (returned > 0) {
        spdlog::info("peer {}: gone with {} requested blocks, back to the picker",
                     peer.remote().to_string(), returned);
    }
    forget_pieces(slot, peer.has());
    zone_leave(slot);
    origin_gone(peer);
    ++traffic_.stats.disconnects;
    give_budget();
    const auto keep = peers_.erase(slot);  // alive until the end of this call
    // The blocks it held are free again: let the others pick them up now.
    for (const auto& [s, p] : peers_.live()) {
        p->fill_requests();
    }
    fill_slots();  // and its unchoke slot, if it had one
}

void torrent::on_bitfield(peer_connection& peer, const bitfield* previous) {
    if (previous != nullptr) {
        forget_pieces(peer.slot(), *previous);
    }
    shared_pieces* shared = shard_.set ? shard_.set->pieces.get() : nullptr;
    const bitfield& bits = peer.has();
    if (peer.direction() == peer_direction::outgoing) {
        peers_.note_seed(peer.remote(), bits.all());  // an incoming one's port is not dialled
    }
    if (bits.all()) {
        peers_.record(peer.slot()).counted_as_seed = true;
        picker_.add_seed(in_zone(peer.slot()));
        if (shared != nullptr) shared->add_seed();
    } else {
        picker_.add_peer(bits, in_zone(peer.slot()));
        if (shared != nullptr) shared->add_bitfield(bits);
    }
    origin_progress(peer);
}

void torrent::forget_pieces(peer_slot slot, const bitfield& had) {
    shared_pieces* shared = shard_.set ? shard_.set->pieces.get() : nullptr;
    if (std::exchange(peers_.record(slot).counted_as_seed, false)) {
        picker_.remove_seed(in_zone(slot));
        if (shared != nullptr) shared->remove_seed();
    } else if (!had.none()) {
        picker_.remove_peer(had, in_zone(slot));
        if (shared != nullptr) shared->remove_bitfield(had);
    }
}

void torrent::on_have(peer_connection& peer, piece_index piece) {
    picker_.on_have(piece, in_zone(peer.slot()));
    if (peer.is_seed() && peer.direction() == peer_direction::outgoing) {
        peers_.note_seed(peer.remote(), true);
    }
    if (shard_.set) shard_.set->pieces->add_have(piece);
    if (peer.is_seed() && !peer.am_choking()) {
        fill_slots();  // complete now: its slot goes to someone who still needs pieces
    }
    origin_progress(peer);
}

// ---- choking -----------------------------------------------------------------------------

void torrent::on_interest_changed(peer_connection&) {
    // Interested: a free slot need not wait for the next rechoke. Not interested: its slot,
    // if it held one, goes to a waiting peer now.
    fill_slots();
}

std::vector<choker_peer> torrent::choker_snapshot(clock::time_point now) {
    const auto ms = [](clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    };
    std::vector<choker_peer> snapshot;
    for (const auto& [slot, p] : peers_.live()) {
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
        c.connected_at = ms(p->connected_at());
        c.choke_changed_at = ms(std::max(peers_.record(slot).choke_changed_at, p->connected_at()));
        c.is_seed = p->is_seed();
        snapshot.push_back(c);
    }
    return snapshot;
}

choker_config torrent::choker_settings() const {
    choker_config config;
    config.slots = options_.unchoke_slots;
    config.rechoke_interval = life_.rechoke_period;
    config.optimistic_every_rechokes = options_.optimistic_every_rechokes;
    return config;
}

void torrent::set_choking(peer_connection& peer, bool choke) {
    if (peer.am_choking() != choke) {
        peers_.record(peer.slot()).choke_changed_at = context_.reactor.now();
        peer.set_choking(choke);
    }
}

void torrent::fill_slots() {
    if (!life_.running) {
        return;
    }
    const auto snapshot = choker_snapshot(context_.reactor.now());
    const slot_fill f = swarm::fill_slots(snapshot, mode(), choker_settings());
    for (peer_slot s : f.to_choke) {
        if (auto* p = peers_.find(s)) set_choking(*p, true);
    }
    for (peer_slot s : f.to_unchoke) {
        if (auto* p = peers_.find(s)) set_choking(*p, false);
    }
}

void torrent::rechoke() {
    const auto now = context_.reactor.now();
    const auto decision = swarm::rechoke(
        choker_snapshot(now), mode(), choker_settings(), choker_state_,
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()), rng_);
    choker_state_ = decision.next;
    for (peer_slot s : decision.to_choke) {
        if (auto* p = peers_.find(s)) set_choking(*p, true);
    }
    for (peer_slot s : decision.to_unchoke) {
        if (auto* p = peers_.find(s)) set_choking(*p, false);
    }
}

}  // namespace minibit::swarm
