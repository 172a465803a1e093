// The agent's one BitTorrent listen port: accepts every incoming connection on the agent's home
// reactor as a plain socket, reads exactly the start of the BEP 3 handshake (protocol string,
// reserved bytes, info hash), asks the agent which shard runs that torrent and hands the socket
// over to that shard's thread with the bytes read so far (the rest of the handshake is still in
// the kernel); the shard adopts it into its reactor and gives it to the session. Unknown
// torrents, bad handshakes and connections too slow to say which torrent they want are closed.
// Home reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "shard.hpp"

namespace minibit::agent {

/// Accepts on one port and routes each connection to its torrent's session.
class peer_router {
public:
    /// Which shard runs a torrent (null: none, or paused).
    using lookup_fn = std::function<std::shared_ptr<shard_link>(const info_hash&)>;

    /// Binds `addr` ("ADDR:PORT", port 0 = any).
    [[nodiscard]] static result<std::unique_ptr<peer_router>> open(io::reactor& reactor,
                                                                   const std::string& addr,
                                                                   lookup_fn lookup);
    peer_router(const peer_router&) = delete;
    peer_router& operator=(const peer_router&) = delete;
    /// Closes the listener and every connection not handed over yet.
    ~peer_router();

    [[nodiscard]] std::uint16_t port() const { return port_; }
    /// Connections handed to a torrent so far.
    [[nodiscard]] std::size_t routed() const { return routed_; }
    /// Connections closed before a handover (unknown torrent, bad handshake, timeout, full).
    [[nodiscard]] std::size_t refused() const { return refused_; }
    /// Connections are refused at accept while `budget` (the agent's global limit) is full.
    void set_budget(std::shared_ptr<swarm::connection_budget> budget) {
        budget_ = std::move(budget);
    }

private:
    /// A socket accepted and not handed over yet, by descriptor.
    struct pending {
        io::watch_id watch{};
        io::address peer;
        std::string bytes;
        io::timer_id timer{};
    };
    peer_router(io::reactor& reactor, lookup_fn lookup)
        : reactor_(reactor), lookup_(std::move(lookup)), scope_(reactor) {}
    void accept_some();
    void on_readable(int fd);
    void hand_over(int fd);
    /// Forgets a pending socket (its watch and timer); the caller closes or hands it on.
    pending take(int fd);
    void refuse(int fd);

    io::reactor& reactor_;
    lookup_fn lookup_;
    std::shared_ptr<swarm::connection_budget> budget_;
    int listen_fd_ = -1;
    io::watch_id listen_watch_{};
    std::map<int, pending> pending_;
    std::uint16_t port_ = 0;
    std::size_t routed_ = 0;
    std::size_t refused_ = 0;
    io::scope scope_;  ///< handshake timers and socket callbacks; last member, first to go
};

}  // namespace minibit::agent
