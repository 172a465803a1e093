// One torrent's peer engine on one reactor: owns the piece store, the picker (availability,
// random first pieces, rarest first, endgame), the choker, the peers (peer_set) and the counters.
// Verifies each completed piece on a hashing worker (the io::worker_pool of its options),
// announces it with HAVE once the verdict is back on the reactor, re-fetches failed pieces and
// bans the peers that sent bad data (smart_ban). Its connections reach it only through
// peer_host. Reactor thread only (asserted in checked builds).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/choker.hpp"
#include "minibit/swarm/origin_plan.hpp"
#include "minibit/swarm/peer_connection.hpp"
#include "minibit/swarm/peer_host.hpp"
#include "minibit/swarm/peer_set.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/swarm/rate_meter.hpp"
#include "minibit/swarm/shared_pieces.hpp"
#include "minibit/swarm/smart_ban.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/torrent_stats.hpp"
#include "minibit/swarm/zone_roster.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

class torrent;

/// The reactors serving one torrent together (one torrent object, a "shard", per reactor; see
/// docs/peer.md). Sized and filled before any shard starts, read-only afterwards, except each
/// shard's published stats slot (its own mutex, written once per tick).
struct shard_set {
    struct member {
        io::scope::handle scope;  ///< posts into the shard, dropped once it is gone
        torrent* shard = nullptr;
        mutable std::mutex stats_mutex;
        torrent_stats stats;  ///< guarded by stats_mutex
    };
    explicit shard_set(std::uint32_t count, std::uint32_t piece_count);
    /// Runs fn on shard k's reactor thread, if that shard still exists then; any thread.
    void post(std::uint32_t k, std::function<void(torrent&)> fn) const;
    /// The sum of every shard's last published counters (rates add up; peers add up).
    [[nodiscard]] torrent_stats total() const;

    std::vector<std::unique_ptr<member>> members;
    std::shared_ptr<shared_pieces> pieces;
};

/// A torrent being downloaded or seeded.
class torrent final : private peer_host {
public:
    using clock = io::reactor::clock;

    /// Opens (creating or resuming) the data under `folder` and prepares the engine.
    [[nodiscard]] static result<std::unique_ptr<torrent>> open(
        io::reactor& reactor, metainfo info, const std::filesystem::path& folder,
        const torrent_options& options, const storage::store_options& store = {});
    /// One shard of a torrent served by several reactors: `store` is shared by every shard,
    /// `set->members[shard]` is filled in here. Call on `reactor`'s thread; start them all
    /// only once every shard exists.
    [[nodiscard]] static result<std::unique_ptr<torrent>> open_shard(
        io::reactor& reactor, metainfo info, std::shared_ptr<storage::piece_store> store,
        std::shared_ptr<shard_set> set, std::uint32_t shard, const torrent_options& options);
    torrent(const torrent&) = delete;
    torrent& operator=(const torrent&) = delete;
    ~torrent();

    /// Starts the tick and rechoke timers.
    void start();
    /// Closes every connection and stops the timers; saves the resume file.
    void stop();
    /// Connects to a peer (skipped when already connected, banned, or at max_peers).
    void connect(const io::address& peer);
    /// Adopts an accepted connection (closed at once when at max_peers). `already_received`
    /// holds what was read from it before the handoff (a router that read the handshake to
    /// find the torrent); the connection handles those bytes first.
    void adopt(io::connection conn, const io::address& peer,
               std::span<const std::byte> already_received = {});
    /// Called once when the last piece is verified (also at start when already complete).
    void set_on_complete(std::function<void()> fn) { life_.on_complete = std::move(fn); }
    /// Called when the torrent cannot go on (disk full, storage fault); it is stopped first.
    void set_on_error(std::function<void(const error&)> fn) { life_.on_error = std::move(fn); }

    [[nodiscard]] bool complete() const { return have_.all(); }
    [[nodiscard]] const metainfo& info() const { return info_; }
    [[nodiscard]] const wire::peer_id& local_id() const { return context_.local_id; }
    [[nodiscard]] const torrent_options& options() const { return options_; }
    /// Changes max_peers at run time (connections above a lowered limit stay).
    void set_max_peers(std::uint32_t n) { options_.max_peers = n; }
    [[nodiscard]] std::uint64_t bytes_left() const;
    /// A snapshot of the counters, rates and peer count filled in.
    [[nodiscard]] torrent_stats stats() const;
    /// Number of connections that finished the handshake.
    [[nodiscard]] std::size_t peer_count() const;
    /// Peers known to have piece p, seeds included (all reactors of the torrent).
    [[nodiscard]] std::uint32_t availability(piece_index p) const;
    /// True when `peer` (by id) has been banned.
    [[nodiscard]] bool banned(const wire::peer_id& peer) const { return ban_.banned(peer); }

private:
    /// Start, timers and the callbacks to the owner.
    struct lifecycle {
        clock::time_point started;
        io::timer_id tick_timer{};
        io::timer_id rechoke_timer{};
        std::chrono::milliseconds rechoke_period{0};  ///< the period of the armed rechoke
        bool tick_armed = false;  // the tick sleeps while no peer is attached (idle torrents)
        bool running = false;
        bool completed = false;
        std::uint32_t budget_held = 0;  ///< units of options_.connections taken and not given back
        std::function<void()> on_complete;
        std::function<void(const error&)> on_error;
    };
    /// The other reactors serving this torrent (none: this one alone).
    struct shard_link {
        std::shared_ptr<shard_set> set;
        std::uint32_t index = 0;
        std::map<piece_index, std::uint32_t> idle_ticks;  ///< claimed pieces nobody is asked for
    };
    /// Our zone's members and when a fresh block last came (torrent_zones.cpp).
    struct zone_state {
        zone_roster roster;
        clock::time_point last_fresh_block;
        bool self_known = false;
    };
    /// Counters and payload rates.
    struct traffic {
        torrent_stats stats;
        rate_meter down;
        rate_meter up;
    };

    torrent(io::reactor& reactor, metainfo info, const torrent_options& options);

    // peer_host (torrent.cpp, torrent_pieces.cpp): what a connection asks and tells.
    [[nodiscard]] bool accept_handshake(peer_connection& peer, const wire::peer_id& id) override;
    void on_bitfield(peer_connection& peer, const bitfield* previous) override;
    void on_have(peer_connection& peer, piece_index piece) override;
    void on_interest_changed(peer_connection& peer) override;
    [[nodiscard]] std::vector<wire::block_ref> next_requests(
        peer_connection& peer, std::size_t count, std::span<const wire::block_ref> avoid) override;
    void on_block(peer_connection& peer, const wire::block_ref& block,
                  std::span<const std::uint8_t> data) override;
    void on_request_dropped(peer_connection& peer, const wire::block_ref& block) override;
    void on_serve_failed(peer_connection& peer, const error& e) override;
    void on_served(peer_connection& peer, const wire::block_ref& block) override;
    void on_closed(peer_connection& peer) override;

    // torrent.cpp: lifecycle, connections, choking.
    void adopt_store_pieces();
    void arm_tick();
    void arm_rechoke();
    void tick();
    void rechoke();
    void fill_slots();
    void set_choking(peer_connection& peer, bool choke);
    [[nodiscard]] std::vector<choker_peer> choker_snapshot(clock::time_point now);
    [[nodiscard]] choker_config choker_settings() const;
    [[nodiscard]] choke_mode mode() const {
        return complete() ? choke_mode::seed : choke_mode::leech;
    }
    void fail(const error& e);
    void add_peer(io::connection conn, const io::address& addr, peer_direction dir,
                  std::span<const std::byte> already_received);
    void forget_pieces(peer_slot slot, const bitfield& had);
    [[nodiscard]] storage::piece_store& store() { return *context_.store; }
    // torrent_pieces.cpp: blocks, verification, smart ban.
    [[nodiscard]] std::optional<block_address> to_address(const wire::block_ref& block) const;
    [[nodiscard]] wire::block_ref to_ref(block_address block) const;
    void verify(piece_index piece);
    void on_hashed(piece_index piece, const result<storage::piece_check>& check);
    void commit(const storage::piece_check& check);
    void announce_piece(piece_index piece);
    void piece_finished(piece_index piece);
    void piece_failed(piece_index piece);
    void charge(peer_slot slot);
    [[nodiscard]] std::optional<sha1_digest> block_digest(piece_index piece, block_index block);
    void ban(peer_slot slot);
    void finish_download();
    void close_all(std::string_view why);
    /// Takes a unit of the shared connection budget for a dial or an accepted peer (true
    /// when there is no budget).
    [[nodiscard]] bool take_budget(peer_direction direction);
    void give_budget();
    /// Closes connections that carry nothing while the shared budget refuses dials.
    void release_idle_at_budget(clock::time_point now);
    // torrent_origin.cpp: the origin seeding policy (origin_plan.hpp).
    void origin_start();
    void origin_offer(peer_connection& peer);
    void origin_progress(peer_connection& peer);
    void origin_gone(peer_connection& peer);
    void origin_tick();
    // torrent_shards.cpp: what the other reactors of the torrent tell this one.
    void on_remote_piece(piece_index piece);
    void on_remote_ban(const std::string& addr, const std::optional<wire::peer_id>& id);
    void release_idle_claims();
    // torrent_zones.cpp: which peers share our zone, and what may come from outside it.
    void zone_join(io::connection conn, peer_slot slot, const io::address& addr);
    void zone_leave(peer_slot slot);
    void zone_tick(clock::time_point now);
    [[nodiscard]] bool in_zone(peer_slot slot) { return peers_.record(slot).in_zone; }
    /// For next_requests: null for an in-zone peer, else the roster that limits its pieces.
    [[nodiscard]] const zone_roster* zone_rule(peer_slot slot);
    void publish_stats();
    void tell_other_shards(const std::function<void(torrent&)>& fn);

    metainfo info_;
    torrent_options options_;
    piece_picker picker_;
    bitfield have_;  ///< verified pieces as this reactor knows them (all reactors' in the end)
    traffic traffic_;
    peer_context context_;  ///< what the connections read; refers to the members above
    shard_link shard_;
    std::mt19937_64 rng_;
    choker_state choker_state_;
    std::unique_ptr<origin_plan> origin_;  ///< set while seeding with seed_policy::origin
    peer_set peers_;
    zone_state zone_;
    smart_ban ban_;
    lifecycle life_;
    io::scope scope_;  ///< last member, so the first to go: nothing armed outlives the rest
};

}  // namespace minibit::swarm
