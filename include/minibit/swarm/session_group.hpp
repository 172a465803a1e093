// One torrent served by several reactor threads: one piece store (one mapping), one session per
// reactor ("shard": its own listener on the shared port with SO_REUSEPORT, its own connections,
// picker cache and choker slots), lock-free shared piece state (shared_pieces) and cross-reactor
// messages through each reactor's post queue (verified pieces, bans, connects). The first shard
// announces to the trackers and spreads outgoing connects. The group owns the threads; its
// methods are for the thread that started it (stats, availability and complete(): any thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/runner.hpp"
#include "minibit/swarm/session.hpp"

namespace minibit::swarm {

/// Threads of a session_group.
struct group_options {
    unsigned threads = 2;  ///< reactor threads (shards); 0 = one per core
    io::backend_kind backend = io::backend_kind::auto_select;
    io::reactor_options reactor;
};

class session_group {
public:
    /// Opens the data, starts the reactor threads, binds one listener per reactor on one port
    /// and starts every shard (announce, dial the given peers).
    [[nodiscard]] static result<std::unique_ptr<session_group>> start(
        metainfo info, const std::filesystem::path& folder, session_options options,
        group_options group);
    session_group(const session_group&) = delete;
    session_group& operator=(const session_group&) = delete;
    /// Stops (see stop()) when still running.
    ~session_group();

    /// Stops every shard (the stopped announce waits at most `wait`), destroys them on their
    /// threads and joins the threads. Idempotent.
    void stop(std::chrono::milliseconds wait = std::chrono::seconds(3));

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] unsigned size() const { return static_cast<unsigned>(sessions_.size()); }
    [[nodiscard]] const metainfo& info() const { return info_; }
    /// Every piece verified (by any shard). Any thread.
    [[nodiscard]] bool complete() const { return set_->pieces->complete(); }
    [[nodiscard]] std::uint32_t pieces_have() const { return set_->pieces->verified_count(); }
    /// Bytes of the pieces not verified yet. Any thread.
    [[nodiscard]] std::uint64_t bytes_left() const;
    /// Peers on all shards known to have piece p (exact, from the shared counters).
    [[nodiscard]] std::uint32_t availability(piece_index p) const {
        return set_->pieces->availability(p);
    }
    /// The shards' counters summed (each shard publishes them once per tick and at stop).
    [[nodiscard]] torrent_stats stats() const { return set_->total(); }
    /// Shard k's own counters as last published (which reactor carried what).
    [[nodiscard]] torrent_stats shard_stats(unsigned k) const;
    /// The first error a shard stopped on (disk full, storage fault), if any.
    [[nodiscard]] std::optional<error> failure() const;
    /// Runs fn on shard k's thread with its session (tests, diagnostics); any thread.
    void post(unsigned k, std::function<void(session&)> fn);

private:
    session_group() = default;
    /// Runs fn(k) on every shard's thread and waits until all ran (or `wait` passed).
    void on_each(const std::function<void(unsigned, std::function<void()>)>& fn,
                 std::chrono::milliseconds wait);

    metainfo info_;
    std::shared_ptr<shard_set> set_;
    std::vector<std::unique_ptr<session>> sessions_;  ///< [k] lives on reactor k's thread
    std::unique_ptr<io::runner> runner_;
    mutable std::mutex failure_mutex_;
    std::optional<error> failure_;  ///< guarded by failure_mutex_
    std::uint16_t port_ = 0;
    bool running_ = false;
};

}  // namespace minibit::swarm
