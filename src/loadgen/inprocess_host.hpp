// `minibit-loadgen swarm --in-process`: every peer is a swarm::session of this process (the real
// wire protocol over loopback sockets, real files in the mmap store), the peers spread round
// robin over T reactor threads. peer_runtime owns the threads and one peer_reactor per peer (so
// log lines name their peer); an in-process host runs one peer on it behind the same peer_host
// interface as a process. Hosts are driven from the driver's thread; each session lives and
// dies on its reactor's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/runner.hpp"
#include "minibit/io/worker_pool.hpp"
#include "peer_host.hpp"
#include "peer_reactor.hpp"

namespace minibit::swarm {
class connection_budget;
}

namespace minibit::loadgen {

struct inprocess_peer;

/// The reactor threads of the in-process peers.
class peer_runtime {
public:
    /// Starts `threads` reactor threads (0: one per core) with back end `io` for `peers` peers
    /// sharing `connection_units` connection ends (0: no limit).
    [[nodiscard]] static result<std::shared_ptr<peer_runtime>> start(
        unsigned threads, const std::string& io, std::uint32_t peers,
        std::uint32_t connection_units = 0);
    peer_runtime(const peer_runtime&) = delete;
    peer_runtime& operator=(const peer_runtime&) = delete;
    peer_runtime(peer_runtime&&) = delete;
    peer_runtime& operator=(peer_runtime&&) = delete;
    ~peer_runtime();

    /// Reactor threads.
    [[nodiscard]] unsigned threads() const { return static_cast<unsigned>(inner_.size()); }
    /// Peer k's reactor (thread k mod threads).
    [[nodiscard]] io::reactor& reactor_for(std::uint32_t peer) { return *peers_.at(peer); }
    /// The piece-hashing threads every peer shares.
    [[nodiscard]] std::shared_ptr<io::worker_pool> hashing() const { return hashing_; }
    /// The connection budget every peer shares (its descriptors), or null.
    [[nodiscard]] std::shared_ptr<swarm::connection_budget> connections() const {
        return connections_;
    }
    /// Remembers a peer so that shutdown() can end it if its host did not.
    void enroll(std::uint32_t peer, std::shared_ptr<inprocess_peer> state);
    /// Ends every peer still running (on its thread), then stops and joins the threads. Idempotent.
    void shutdown();

private:
    peer_runtime() = default;

    std::shared_ptr<io::worker_pool> hashing_ = std::make_shared<io::worker_pool>();
    std::shared_ptr<swarm::connection_budget> connections_;
    std::unique_ptr<io::runner> runner_;
    std::vector<io::reactor*> inner_;                   // one per thread, owned by runner_
    std::vector<std::unique_ptr<peer_reactor>> peers_;  // one per peer
    std::mutex mutex_;                                  // guards enrolled_
    std::vector<std::shared_ptr<inprocess_peer>> enrolled_;
};

/// A host running its peer as a swarm::session on `runtime`, opened from `info`.
[[nodiscard]] std::unique_ptr<peer_host> make_inprocess_host(std::shared_ptr<peer_runtime> runtime,
                                                             std::shared_ptr<const metainfo> info);

}  // namespace minibit::loadgen
