#include "peer_router.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/agent/agent.hpp"
#include "minibit/io/error.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::agent {
namespace {

using namespace std::chrono_literals;

/// pstrlen, "BitTorrent protocol", 8 reserved bytes, then the info hash: the bytes the router
/// needs before it knows the torrent.
constexpr std::size_t routing_bytes = 1 + 19 + 8 + 20;
constexpr std::string_view protocol_name =
    "\x13"
    "BitTorrent protocol";
/// A connection that has not named its torrent by then is closed.
constexpr auto routing_timeout = 10s;
/// Connections waiting for their handshake at once; more are closed on accept.
constexpr std::size_t max_pending = 512;
/// Binding a port still held by an agent that just exited: tries and pause between them.
constexpr int bind_retries = 30;
constexpr auto bind_retry_pause = 100ms;
/// Connections accepted per readiness report before the loop turns again.
constexpr int accepts_per_turn = 64;
constexpr int listen_backlog = 1024;

}  // namespace

namespace {

/// A nonblocking listening TCP socket bound to `where`, or the errno of the step that failed.
result<int> open_listener(const io::address& where) {
    const int fd = ::socket(where.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(io::errno_error(errno, "socket"));
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, where.data(), where.size()) != 0 || ::listen(fd, listen_backlog) != 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(io::errno_error(err, "bind"));
    }
    return fd;
}

}  // namespace

result<std::unique_ptr<peer_router>> peer_router::open(io::reactor& reactor,
                                                       const std::string& addr, lookup_fn lookup) {
    auto where = io::address::parse(addr);
    if (!where) {
        return fail(agent_errc::bad_request,
                    fmt::format("bad listen address '{}': {}", addr, where.error().message()));
    }
    std::unique_ptr<peer_router> r(new peer_router(reactor, std::move(lookup)));
    auto fd = open_listener(*where);
    // A previous agent's io_uring releases its sockets shortly after it exited: retry a
    // moment before giving up (start-up only, before the loop runs).
    for (int attempt = 0; !fd && fd.error().code == EADDRINUSE && attempt < bind_retries;
         ++attempt) {
        std::this_thread::sleep_for(bind_retry_pause);
        fd = open_listener(*where);
    }
    if (!fd) {
        return fail(agent_errc::bad_request,
                    fmt::format("cannot listen on {}: {}", addr, fd.error().message()));
    }
    r->listen_fd_ = *fd;
    auto watch = reactor.watch_fd(
        *fd, io::fd_interest::read,
        r->scope_.guard([p = r.get()](io::fd_interest) { p->accept_some(); }));
    if (!watch) {
        return fail(agent_errc::state, "cannot watch the listener: " + watch.error().message());
    }
    r->listen_watch_ = *watch;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len);
    r->port_ = io::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).port();
    return r;
}

peer_router::~peer_router() {
    for (auto& [fd, p] : pending_) {
        reactor_.unwatch_fd(p.watch);
        ::close(fd);
    }
    if (listen_fd_ >= 0) {
        reactor_.unwatch_fd(listen_watch_);
        ::close(listen_fd_);
    }
}

void peer_router::accept_some() {
    // Bounded so a flood cannot starve the loop; the level-triggered watch comes back.
    for (int i = 0; i < accepts_per_turn; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or EMFILE/ENFILE: tried again on the next readiness
        }
        const bool over_budget = budget_ && budget_->full();
        if (pending_.size() >= max_pending || over_budget) {
            if (over_budget) budget_->count_refused();
            ++refused_;
            ::close(fd);
            continue;
        }
        auto watch = reactor_.watch_fd(
            fd, io::fd_interest::read,
            scope_.guard([this, fd](io::fd_interest) { on_readable(fd); }));
        if (!watch) {
            ++refused_;
            ::close(fd);
            continue;
        }
        auto& p = pending_[fd];
        p.watch = *watch;
        p.peer = io::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        p.timer = scope_.add_timer(routing_timeout, [this, fd] { refuse(fd); });
    }
}

void peer_router::on_readable(int fd) {
    auto it = pending_.find(fd);
    if (it == pending_.end()) {
        return;
    }
    pending& p = it->second;
    // Read no further than the info hash: the rest belongs to the session.
    std::array<char, routing_bytes> buf{};
    const auto n = ::recv(fd, buf.data(), routing_bytes - p.bytes.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        refuse(fd);  // closed or failed before naming its torrent
        return;
    }
    p.bytes.append(buf.data(), static_cast<std::size_t>(n));
    const std::size_t known = std::min(p.bytes.size(), protocol_name.size());
    if (p.bytes.compare(0, known, protocol_name, 0, known) != 0) {
        refuse(fd);  // not a BitTorrent handshake (encrypted or another protocol)
        return;
    }
    if (p.bytes.size() == routing_bytes) {
        hand_over(fd);
    }
}

void peer_router::hand_over(int fd) {
    pending p = take(fd);
    std::array<std::uint8_t, 20> raw{};
    std::copy_n(reinterpret_cast<const std::uint8_t*>(p.bytes.data()) + 28, raw.size(),
                raw.begin());
    const auto hash = info_hash::from_bytes(raw);
    auto owner = hash ? lookup_(*hash) : nullptr;
    if (!owner) {
        spdlog::debug("peer {}: no torrent {}", p.peer.to_string(), hash ? hash->hex() : "?");
        ++refused_;
        ::close(fd);
        return;
    }
    ++routed_;
    // The socket travels with the task: closed if the shard is gone or the torrent stopped.
    auto socket = std::make_shared<socket_handoff>(fd);
    owner->run([socket, h = *hash, peer = p.peer, bytes = std::move(p.bytes)](shard& s) {
        s.adopt(h, *socket, peer, bytes);
    });
}

peer_router::pending peer_router::take(int fd) {
    auto it = pending_.find(fd);
    pending p = std::move(it->second);
    pending_.erase(it);
    reactor_.unwatch_fd(p.watch);
    scope_.cancel_timer(p.timer);
    return p;
}

void peer_router::refuse(int fd) {
    if (!pending_.contains(fd)) {
        return;
    }
    [[maybe_unused]] auto gone = take(fd);
    ++refused_;
    ::close(fd);
}

}  // namespace minibit::agent
