// A peer session: one torrent on one reactor, its listen socket, its tracker client and the
// peers given by hand (--peer). Wires tracker answers to outgoing connects and the listener to
// the torrent. Also one shard of a session_group (one torrent on several reactors): then every
// shard listens on the same port (SO_REUSEPORT) and the first shard alone announces and
// spreads the outgoing connects over the shards. Reactor thread only (asserted in checked
// builds).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/torrent.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/tracker_client.hpp"

namespace minibit::swarm {

/// Whether the session announces to the torrent's trackers.
enum class use_trackers { no, yes };

/// Who accepts a session's incoming connections: the session itself (its own listener), or
/// its owner, which holds one port for many torrents and hands each connection in (adopt()).
enum class listen_mode { own, shared };

/// Options of a session.
struct session_options {
    std::string listen_host = "0.0.0.0";  ///< numeric address to listen on
    std::uint16_t port = 0;               ///< 0: any free port; shared: the owner's port
    listen_mode listen = listen_mode::own;
    torrent_options torrent;
    tracker_options tracker;
    storage::store_options store;
    std::vector<io::address> peers;  ///< dialled at start and again when disconnected
    use_trackers trackers = use_trackers::yes;
    /// How often the known peers (given and announced) are dialled again when not connected.
    std::chrono::milliseconds redial_interval = 2s;
};

/// One torrent, its listener and its tracker client on one reactor.
class session {
public:
    /// Binds the listener, opens the torrent's data and prepares the tracker client.
    [[nodiscard]] static result<std::unique_ptr<session>> open(io::reactor& reactor, metainfo info,
                                                               const std::filesystem::path& folder,
                                                               session_options options);
    /// Shard `shard` of a torrent served by several reactors (see session_group): the store
    /// and `set` are shared; binds `options.port` with SO_REUSEPORT. Call on `reactor`'s thread.
    [[nodiscard]] static result<std::unique_ptr<session>> open_shard(
        io::reactor& reactor, metainfo info, std::shared_ptr<storage::piece_store> store,
        std::shared_ptr<shard_set> set, std::uint32_t shard, session_options options);
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session();

    /// Starts the torrent, announces `started` and dials the given peers.
    void start();
    /// Stops the torrent, announces `stopped` (best effort), then calls `done`.
    void stop(std::function<void()> done);
    /// Hands in a connection accepted by the owner's shared listener; `already_received` is
    /// what the owner read from it (the handshake's start) and is handled first.
    void adopt(io::connection conn, const io::address& peer,
               std::span<const std::byte> already_received);

    /// The port the listener is bound to.
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] torrent& get() { return *torrent_; }
    [[nodiscard]] const torrent& get() const { return *torrent_; }
    /// The tracker client, or nullptr when the torrent has no usable tracker or trackers are off.
    [[nodiscard]] const tracker_client* tracker() const { return tracker_.get(); }

private:
    explicit session(io::reactor& reactor) : reactor_(reactor), scope_(reactor) {}
    void redial();
    void learn(const std::vector<io::address>& peers);
    /// Connects to `peer` from the shard its address hashes to (this one without shards).
    void dial(const io::address& peer);
    [[nodiscard]] result<void> bind(io::reactor& reactor, io::reuse_port reuse);
    void make_tracker(std::vector<std::vector<std::string>> tiers);
    void arm_redial();

    io::reactor& reactor_;
    session_options options_;
    std::unique_ptr<torrent> torrent_;
    std::unique_ptr<tracker_client> tracker_;
    std::shared_ptr<shard_set> shards_;  ///< null: a session on one reactor
    std::uint32_t shard_ = 0;
    std::vector<io::address> known_;
    io::listener_id listener_{};
    io::timer_id redial_timer_{};
    std::uint16_t port_ = 0;
    bool listening_ = false;
    bool running_ = false;
    bool redial_armed_ = false;
    io::scope scope_;  ///< the redial timer; last member, so the first to go
};

}  // namespace minibit::swarm
