// One reactor thread of the agent (private to the agent's sources): the sessions of the
// torrents assigned to it, opened, started, stopped and destroyed on that thread, connections
// handed to them from the agent's one listener, and a board of their figures published for the
// agent's home thread (at once after a start, and whenever the home thread asks for fresh ones:
// no timer, so an idle agent costs nothing). Complete data is opened read-only (read-only
// files and mounts can be seeded); anything to write opens it read-write. Other threads reach a shard
// only through its link: a ticket to run work on the shard's thread and the board behind a
// mutex, both safe from any thread and after the shard died (work is then dropped).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "minibit/core/metainfo.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/session.hpp"

namespace minibit::agent {

/// What other threads may know of a running torrent: a copy its shard refreshes.
struct torrent_figures {
    std::uint32_t pieces_have = 0;
    std::uint64_t bytes_left = 0;
    std::uint64_t bytes_downloaded = 0;  ///< payload, since the session started
    std::uint64_t bytes_uploaded = 0;
    double download_rate = 0.0;
    double upload_rate = 0.0;
    std::uint32_t peers = 0;
    bool complete = false;
    std::string tracker_error;
};

/// A connected socket on its way to another thread; closed unless someone took it.
class socket_handoff {
public:
    explicit socket_handoff(int fd) : fd_(fd) {}
    socket_handoff(const socket_handoff&) = delete;
    socket_handoff& operator=(const socket_handoff&) = delete;
    ~socket_handoff();
    /// The descriptor, now the caller's to close.
    [[nodiscard]] int take() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

class shard;

/// A shard as other threads see it; outlives the shard (held by the agent too).
class shard_link {
public:
    /// Runs `fn` on the shard's thread unless the shard died first; any thread.
    void run(std::function<void(shard&)> fn) const;
    /// Runs `fn` on the shard's thread and waits until it ran (at once on that thread); false
    /// when the shard died first. Any thread but one the shard itself waits for.
    bool call(const std::function<void(shard&)>& fn) const;
    /// Asks the shard to publish fresh figures of every torrent it runs; the future is ready
    /// once it did (at once on the shard's own thread), or broken when the shard died first.
    [[nodiscard]] std::future<void> refresh() const;
    /// Publishes fresh figures of one torrent and waits for them; any thread.
    void refresh(const info_hash& hash) const;
    /// Every figure published, copied under one lock; any thread.
    [[nodiscard]] std::map<info_hash, torrent_figures> board() const;
    /// The figures published for one torrent, if any; any thread.
    [[nodiscard]] std::optional<torrent_figures> figures(const info_hash& hash) const;
    /// Forgets a torrent's figures (its session is gone); any thread.
    void forget(const info_hash& hash);

private:
    friend class shard;
    shard* self_ = nullptr;   ///< set on the shard's thread before the link is shared
    std::thread::id thread_;  ///< the shard's thread
    io::scope::handle post_;
    mutable std::mutex mutex_;
    std::map<info_hash, torrent_figures> board_;  ///< guarded by mutex_
};

/// The sessions of one reactor thread.
class shard {
public:
    /// A shard on `loop`; create and destroy it on loop's thread.
    explicit shard(io::reactor& loop);
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;
    /// Destroys the sessions still there (no stop announce: the agent stopped them first).
    ~shard();

    /// The link other threads keep.
    [[nodiscard]] std::shared_ptr<shard_link> link() const { return link_; }

    // The shard's thread only:
    /// Opens and starts a session for `info` (complete data read-only); `on_error` runs on
    /// this thread if it fails later. True when its data is open read-only.
    [[nodiscard]] result<bool> start(const metainfo& info, const std::filesystem::path& folder,
                                     const swarm::session_options& options,
                                     std::function<void(const error&)> on_error);
    /// Changes a running torrent's connection limit (none running: nothing).
    void set_max_peers(const info_hash& hash, std::uint32_t n);
    /// Stops a torrent's session (stopped announce), then destroys it and calls `done` with
    /// its last figures (nullopt: there was none).
    void stop(const info_hash& hash, std::function<void(std::optional<torrent_figures>)> done);
    /// Hands an accepted socket (the handshake's first `received` bytes read) to the torrent's
    /// session; closes it when the torrent has none here.
    void adopt(const info_hash& hash, socket_handoff& socket, const io::address& peer,
               const std::string& received);

private:
    friend class shard_link;
    void publish_all();
    void publish(const info_hash& hash);
    [[nodiscard]] static torrent_figures figures_of(const swarm::session& s);

    io::reactor& loop_;
    std::shared_ptr<shard_link> link_;
    std::map<info_hash, std::unique_ptr<swarm::session>> sessions_;
    /// Sessions announcing their stop, by a key of their own (a torrent may run again
    /// meanwhile); destroyed once stopped, or with the shard.
    std::map<std::uint64_t, std::unique_ptr<swarm::session>> stopping_;
    std::uint64_t next_stop_ = 0;
    io::scope scope_;  ///< deferred stops; last member, first to go
};

}  // namespace minibit::agent
