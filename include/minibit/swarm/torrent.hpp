// One torrent's peer engine on one reactor: owns the piece store, the block tracker and piece
// choice (availability, random first pieces, rarest first, endgame), the choker, the peers and
// the counters. Verifies each completed piece on a hashing worker (io::worker_pool), announces it
// with HAVE once the result is back on the reactor, re-fetches failed pieces and bans the peers
// that sent bad data (smart ban by per-block digests). Reactor thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/choker.hpp"
#include "minibit/swarm/peer_connection.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/swarm/rate_meter.hpp"
#include "minibit/swarm/shared_pieces.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/torrent_stats.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

class torrent;

/// The reactors serving one torrent together (one torrent object, a "shard", per reactor; see
/// docs/peer.md). Sized and filled before any shard starts, read-only afterwards, except each
/// shard's published stats slot (its own mutex, written once per tick).
struct shard_set {
    struct member {
        io::reactor* reactor = nullptr;
        torrent* shard = nullptr;
        std::weak_ptr<int> alive;  ///< locked on the member's own reactor thread only
        mutable std::mutex stats_mutex;
        torrent_stats stats;        ///< guarded by stats_mutex
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
class torrent {
public:
    using clock = io::reactor::clock;

    /// Opens (creating or resuming) the data under `folder` and prepares the engine.
    [[nodiscard]] static result<std::unique_ptr<torrent>> open(io::reactor& reactor,
                                                               metainfo info,
                                                               const std::filesystem::path& folder,
                                                               const torrent_options& options,
                                                               const storage::store_options& store = {});
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
    /// Adopts an accepted connection (closed at once when at max_peers).
    void adopt(io::connection conn, const io::address& peer);
    /// Called once when the last piece is verified (also at start when already complete).
    void set_on_complete(std::function<void()> fn) { on_complete_ = std::move(fn); }
    /// Called when the torrent cannot go on (disk full, storage fault); it is stopped first.
    void set_on_error(std::function<void(const error&)> fn) { on_error_ = std::move(fn); }

    [[nodiscard]] bool complete() const;
    [[nodiscard]] const metainfo& info() const { return info_; }
    [[nodiscard]] const wire::peer_id& local_id() const { return local_id_; }
    [[nodiscard]] const torrent_options& options() const { return options_; }
    [[nodiscard]] std::uint64_t bytes_left() const;
    /// A snapshot of the counters, rates and peer count filled in.
    [[nodiscard]] torrent_stats stats() const;
    /// Number of connections that finished the handshake.
    [[nodiscard]] std::size_t peer_count() const;
    /// Peers known to have piece p, seeds included (all reactors of the torrent).
    [[nodiscard]] std::uint32_t availability(piece_index p) const;
    /// True when `peer` (by id) has been banned.
    [[nodiscard]] bool banned(const wire::peer_id& peer) const { return banned_ids_.contains(peer); }

private:
    friend class peer_connection;

    torrent(io::reactor& reactor, metainfo info, const torrent_options& options);

    // Called by peer_connection.
    [[nodiscard]] io::reactor& reactor() { return reactor_; }
    [[nodiscard]] torrent_stats& counters() { return stats_; }
    [[nodiscard]] wire::torrent_bounds bounds() const;
    [[nodiscard]] const bitfield& have() const { return have_; }
    [[nodiscard]] storage::piece_store& store() { return *store_; }
    /// Shared ownership for send_borrowed release callbacks: the mapping outlives queued sends.
    [[nodiscard]] std::shared_ptr<const storage::piece_store> store_handle() const { return store_; }
    [[nodiscard]] bool accept_handshake(peer_connection& peer, const wire::peer_id& id);
    void on_peer_bitfield(peer_connection& peer, const bitfield& bits);
    /// Removes the peer's pieces from the availability counts (before a new bitfield, or gone).
    void forget_peer_pieces(peer_connection& peer);
    void on_peer_have(piece_index piece);
    void on_peer_interested(peer_connection& peer);
    [[nodiscard]] std::vector<wire::block_ref> request_blocks(peer_connection& peer,
                                                              std::size_t count);
    void on_block(peer_connection& peer, const wire::block_ref& block,
                  std::span<const std::uint8_t> data);
    void on_request_dropped(peer_connection& peer, const wire::block_ref& block);
    /// A block could not be read for `peer` (file truncated, I/O error): drop what is gone.
    void on_serve_failed(peer_connection& peer, const error& e);
    void on_peer_closed(peer_connection& peer);
    void on_bytes_down(std::uint64_t bytes) { down_.add(bytes, reactor_.now()); }
    void on_bytes_up(std::uint64_t bytes) { up_.add(bytes, reactor_.now()); }

    // Internal.
    [[nodiscard]] std::optional<block_address> to_address(const wire::block_ref& block) const;
    [[nodiscard]] wire::block_ref to_ref(block_address block) const;
    [[nodiscard]] peer_connection* find_peer(peer_slot slot);
    void verify(piece_index piece);
    void on_hashed(piece_index piece, const result<storage::piece_check>& check);
    void commit(const storage::piece_check& check);
    void on_remote_piece(piece_index piece);
    void on_remote_ban(const std::string& addr, const std::optional<wire::peer_id>& id);
    void release_idle_claims();
    void publish_stats();
    void announce_piece(piece_index piece);
    void adopt_store_pieces();
    void piece_finished(piece_index piece);
    void piece_failed(piece_index piece);
    void judge_suspects(piece_index piece);
    void charge(peer_slot slot);
    [[nodiscard]] std::optional<sha1_digest> block_digest(piece_index piece, std::uint32_t block);
    void ban(peer_slot slot);
    void tick();
    void rechoke();
    void rechoke_and_rearm();
    void finish_download();
    void fail(const error& e);
    void arm_timers();
    [[nodiscard]] std::shared_ptr<peer_connection> add_peer(io::connection conn,
                                                            const io::address& addr,
                                                            peer_direction dir);

    /// What we remember of a connection, also after it closed (for charging bad data).
    struct slot_record {
        std::optional<wire::peer_id> id;
        io::address addr;
        std::uint32_t failures = 0;
    };

    io::reactor& reactor_;
    metainfo info_;
    torrent_options options_;
    wire::peer_id local_id_;
    std::shared_ptr<storage::piece_store> store_;  ///< shared with in-flight borrowed sends
    piece_picker picker_;
    bitfield have_;  ///< verified pieces as this reactor knows them (all reactors' in the end)
    std::shared_ptr<shard_set> shards_;  ///< null: this reactor alone serves the torrent
    std::uint32_t shard_ = 0;
    std::map<std::uint32_t, std::uint32_t> idle_ticks_;  ///< claimed pieces nobody is asked for
    std::mt19937_64 rng_;
    choker_state choker_state_;
    std::map<std::uint32_t, std::shared_ptr<peer_connection>> peers_;  ///< by slot
    std::map<std::uint32_t, slot_record> slots_;
    std::set<std::uint32_t> seeds_counted_;  ///< slots added to the picker as seeds (have-all)
    /// Pieces in progress: who sent each received block (for charging a failed piece).
    std::map<std::uint32_t, std::vector<std::optional<peer_slot>>> senders_;
    /// A block of a failed piece: who sent it and the digest of what they sent.
    struct suspect_block {
        std::uint32_t block = 0;
        peer_slot sender;
        sha1_digest digest;
    };
    std::map<std::uint32_t, std::vector<suspect_block>> suspects_;  ///< by piece
    std::set<wire::peer_id> banned_ids_;
    std::set<std::string> banned_addrs_;
    std::set<std::string> connecting_;
    std::map<std::string, clock::time_point> last_attempt_;  ///< outgoing connects by address
    torrent_stats stats_;
    rate_meter down_;
    rate_meter up_;
    std::function<void()> on_complete_;
    std::function<void(const error&)> on_error_;
    std::shared_ptr<int> alive_;   ///< weak copies in reactor callbacks detect our destruction
    /// Hash jobs submitted and not finished; the destructor waits for zero, so no worker
    /// posts to the reactor after we are gone.
    std::shared_ptr<std::atomic<std::uint32_t>> hashing_;
    clock::time_point started_;
    io::timer_id tick_timer_{};
    io::timer_id rechoke_timer_{};
    std::uint32_t next_slot_ = 0;
    bool completed_ = false;
    bool running_ = false;
};

}  // namespace minibit::swarm
