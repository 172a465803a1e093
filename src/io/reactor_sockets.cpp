// reactor_base's sockets: opening bound, listening and connecting sockets, and what the kernel
// tells about an open one (its local address, its TCP round trip).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "reactor_base.hpp"

namespace minibit::io {

result<int> reactor_base::open_bound(const address& addr, int type, reuse_port reuse, int backlog) {
    const int fd = ::socket(addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return std::unexpected(errno_error(errno, "socket"));
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse == reuse_port::yes &&
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(errno_error(err, "setsockopt(SO_REUSEPORT)"));
    }
    if (::bind(fd, addr.data(), addr.size()) != 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(errno_error(err, "bind " + addr.to_string()));
    }
    if (type == SOCK_STREAM && ::listen(fd, backlog) != 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(errno_error(err, "listen"));
    }
    return fd;
}

result<std::pair<std::uint32_t, sock_state*>> reactor_base::open_listener(const address& addr,
                                                                          listen_options options,
                                                                          accept_fn on_accept) {
    auto fd = open_bound(addr, SOCK_STREAM, options.reuse, options.backlog);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    auto [slot, l] = listeners_.acquire();
    l->fd = *fd;
    l->on_accept = std::move(on_accept);
    return std::pair{slot, l};
}

result<std::pair<std::uint32_t, sock_state*>> reactor_base::open_udp(const address& addr,
                                                                     reuse_port reuse,
                                                                     datagram_fn on_datagram) {
    auto fd = open_bound(addr, SOCK_DGRAM, reuse, 0);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    size_udp_buffers(*fd);
    auto [slot, u] = udps_.acquire();
    u->fd = *fd;
    u->on_datagram = std::move(on_datagram);
    return std::pair{slot, u};
}

result<int> reactor_base::open_connecting(const address& addr, bool& in_progress) {
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return std::unexpected(errno_error(errno, "socket"));
    }
    in_progress = false;
    if (::connect(fd, addr.data(), addr.size()) != 0) {
        if (errno != EINPROGRESS) {
            const int err = errno;
            ::close(fd);
            return std::unexpected(errno_error(err, "connect " + addr.to_string()));
        }
        in_progress = true;
    }
    return fd;
}

namespace {

result<address> sock_name(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return std::unexpected(errno_error(errno, "getsockname"));
    }
    return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

result<address> reactor::local_address(conn_id /*id*/) const {
    return fail(io_errc::unavailable,
                "local_address: this reactor does not report connections' local addresses");
}

result<address> reactor_base::local_address(conn_id id) const {
    const auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase == conn_phase::closing) {
        return stale("local_address");
    }
    return sock_name(c->fd);
}

result<std::chrono::microseconds> reactor::round_trip(conn_id /*id*/) const {
    return fail(io_errc::unavailable,
                "round_trip: this reactor does not report connections' round trips");
}

result<std::chrono::microseconds> reactor_base::round_trip(conn_id id) const {
    const auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase == conn_phase::closing) {
        return stale("round_trip");
    }
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
        return std::unexpected(errno_error(errno, "getsockopt TCP_INFO"));
    }
    return std::chrono::microseconds{info.tcpi_rtt};
}

result<address> reactor_base::local_address(listener_id id) const {
    const auto* l = listeners_.find(id.get());
    if (l == nullptr || l->closing) {
        return stale("local_address");
    }
    return sock_name(l->fd);
}

result<address> reactor_base::local_address(udp_id id) const {
    const auto* u = udps_.find(id.get());
    if (u == nullptr || u->closing) {
        return stale("local_address");
    }
    return sock_name(u->fd);
}

}  // namespace minibit::io
