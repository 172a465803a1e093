// The epoll back end: level-triggered readiness on nonblocking sockets. Reads go through one
// per-reactor buffer; sends gather the queue into one sendmsg per readiness, so order is kept.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

#include "backends.hpp"
#include "reactor_base.hpp"

namespace minibit::io {
namespace {

enum class ev_kind : std::uint32_t { wake = 0, conn = 1, listener = 2, udp = 3, watch = 4 };

// epoll_event.data.u64: generation (32) | kind (4) | slot (28).
std::uint64_t make_key(ev_kind kind, std::uint32_t slot, std::uint32_t gen) {
    return (std::uint64_t{gen} << 32) | (std::uint64_t{static_cast<std::uint32_t>(kind)} << 28) |
           (slot & 0x0fffffffU);
}

/// Reads per readiness event before moving on (fairness between sockets).
constexpr int max_reads_per_event = 16;

class epoll_reactor final : public reactor_base {
public:
    explicit epoll_reactor(const reactor_options& options, int epfd)
        : reactor_base(options), epfd_(epfd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = make_key(ev_kind::wake, 0, 0);
        ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    }
    ~epoll_reactor() override { ::close(epfd_); }

    backend_kind kind() const override { return backend_kind::epoll; }
    result<listener_id> listen(const address& addr, listen_options options,
                               accept_fn on_accept) override;
    void close_listener(listener_id id) override;
    void connect(const address& addr, connect_fn on_connected) override;
    result<udp_id> bind_udp(const address& addr, reuse_port reuse,
                            datagram_fn on_datagram) override;
    void close_udp(udp_id id) override;

protected:
    result<void> wait(std::optional<clock::duration> timeout) override;
    void update_reading(std::uint32_t slot, conn_state& c) override { arm_events(slot, c); }
    void flush(std::uint32_t slot, conn_state& c) override;
    void begin_close(std::uint32_t slot, conn_state& c) override;
    result<void> watch_changed(std::uint32_t slot, watch_state& w) override;

private:
    void arm_events(std::uint32_t slot, conn_state& c);
    void on_conn_event(std::uint32_t slot, std::uint32_t gen, std::uint32_t events);
    void on_connect_done(std::uint32_t slot, conn_state& c);
    void read_ready(std::uint32_t slot, std::uint64_t id);
    void on_watch_event(std::uint32_t slot, std::uint32_t gen, std::uint32_t events);

    int epfd_;
    std::array<epoll_event, 256> events_{};
};

result<void> epoll_reactor::wait(std::optional<clock::duration> timeout) {
    int ms = -1;
    if (timeout) {
        // Round up so a timer is never woken for just before its deadline.
        ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*timeout).count());
    }
    const int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), ms);
    refresh_now();
    if (n < 0) {
        return errno == EINTR ? result<void>{} : std::unexpected(errno_error(errno, "epoll_wait"));
    }
    for (int i = 0; i < n; ++i) {
        const std::uint64_t key = events_[static_cast<std::size_t>(i)].data.u64;
        const std::uint32_t events = events_[static_cast<std::size_t>(i)].events;
        const auto slot = static_cast<std::uint32_t>(key & 0x0fffffffU);
        const auto gen = static_cast<std::uint32_t>(key >> 32);
        switch (static_cast<ev_kind>((key >> 28) & 0xfU)) {
        case ev_kind::wake: {
            std::uint64_t count = 0;
            [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof(count));
            break;
        }
        case ev_kind::conn: on_conn_event(slot, gen, events); break;
        case ev_kind::listener: accept_all(slot); break;
        case ev_kind::udp: drain_udp(slot); break;
        case ev_kind::watch: on_watch_event(slot, gen, events); break;
        }
    }
    return {};
}

void epoll_reactor::arm_events(std::uint32_t slot, conn_state& c) {
    std::uint32_t want = 0;
    if (c.phase == conn_phase::connecting || !c.out.empty()) {
        want |= EPOLLOUT;
    }
    if (c.phase == conn_phase::open && c.started && !c.paused) {
        want |= EPOLLIN;
    }
    if (c.epoll_registered && want == c.epoll_events) {
        return;
    }
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = make_key(ev_kind::conn, slot, c.generation);
    ::epoll_ctl(epfd_, c.epoll_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev);
    c.epoll_events = want;
    c.epoll_registered = true;
}

void epoll_reactor::on_conn_event(std::uint32_t slot, std::uint32_t gen, std::uint32_t events) {
    const std::uint64_t id = conns_.make_id(slot, gen);
    auto* c = conns_.find(id);
    if (c == nullptr || c->phase == conn_phase::closing) {
        return;
    }
    if (c->phase == conn_phase::connecting) {
        on_connect_done(slot, *c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0U && c->started && !c->paused) {
        read_ready(slot, id);
        c = conns_.find(id);
    }
    if (c != nullptr && c->phase == conn_phase::open && (events & EPOLLOUT) != 0U) {
        flush(slot, *c);
        c = conns_.find(id);
    }
    if (c != nullptr && c->phase == conn_phase::open && (events & (EPOLLERR | EPOLLHUP)) != 0U &&
        (c->paused || !c->started)) {
        // Nobody reads, yet the socket is dead: without this level-triggered HUP would spin.
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        close_slot(slot, *c, errno_error(err != 0 ? err : ECONNRESET, "connection hung up"));
    }
}

void epoll_reactor::on_connect_done(std::uint32_t slot, conn_state& c) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        close_slot(slot, c, errno_error(err, "connect " + c.peer.to_string()));
        return;
    }
    c.phase = conn_phase::open;
    arm_events(slot, c);
    auto fn = std::move(c.on_connected);
    c.on_connected = nullptr;
    fn(connection(this, conn_id{conns_.make_id(slot, c.generation)}));
}

void epoll_reactor::read_ready(std::uint32_t slot, std::uint64_t id) {
    for (int i = 0; i < max_reads_per_event; ++i) {
        auto* c = conns_.find(id);
        if (c == nullptr || c->phase != conn_phase::open || c->paused) {
            return;
        }
        const auto n = ::recv(c->fd, scratch_.data(), options_.recv_buffer_size_bytes,
                              MSG_DONTWAIT);
        if (n > 0) {
            if (!deliver(slot, std::span<const std::byte>(scratch_.data(),
                                                          static_cast<std::size_t>(n)))) {
                return;
            }
            continue;
        }
        if (n == 0) {
            end_of_input(slot, *c);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_slot(slot, *c, errno_error(errno, "recv"));
        }
        return;
    }
}

void epoll_reactor::flush(std::uint32_t slot, conn_state& c) {
    std::vector<release_fn> released;
    for (int i = 0; i < max_reads_per_event && !c.out.empty(); ++i) {
        const std::size_t n = c.out.gather(c.iov);
        if (n == 0) {
            c.out.consume(0, released);  // only empty borrowed spans left
            continue;
        }
        msghdr msg{};
        msg.msg_iov = c.iov.data();
        msg.msg_iovlen = n;
        const auto sent = ::sendmsg(c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                break;
            }
            close_slot(slot, c, errno_error(errno, "sendmsg"));
            break;
        }
        c.out.consume(static_cast<std::size_t>(sent), released);
    }
    for (auto& fn : released) {
        defer([fn = std::move(fn)] { fn(std::nullopt); });
    }
    if (c.phase != conn_phase::open) {
        return;
    }
    if (c.out.empty() && c.flush_then_close) {
        close_slot(slot, c, std::nullopt);
        return;
    }
    arm_events(slot, c);
}

void epoll_reactor::begin_close(std::uint32_t slot, conn_state& c) {
    if (c.fd >= 0) {
        ::shutdown(c.fd, SHUT_RDWR);
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }
    finish_close(slot, c);
}

void epoll_reactor::connect(const address& addr, connect_fn on_connected) {
    assert_owner();
    bool in_progress = false;
    auto fd = open_connecting(addr, in_progress);
    if (!fd) {
        defer([fn = std::move(on_connected), err = fd.error()] { fn(std::unexpected(err)); });
        return;
    }
    auto [slot, c] = adopt(*fd, addr, conn_phase::connecting);
    c->on_connected = std::move(on_connected);
    // Writable means connected (or failed, per SO_ERROR), also when connect finished at once.
    arm_events(slot, *c);
}

result<void> epoll_reactor::watch_changed(std::uint32_t slot, watch_state& w) {
    std::uint32_t want = 0;
    if (has(w.interest, fd_interest::read)) want |= EPOLLIN;
    if (has(w.interest, fd_interest::write)) want |= EPOLLOUT;
    if (want == 0) {
        // Out of the set: epoll reports ERR/HUP even for an empty mask, which would spin.
        if (w.registered) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, w.fd, nullptr);
        w.registered = false;
        if (w.closing) watches_.release(slot);
        return {};
    }
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = make_key(ev_kind::watch, slot, w.generation);
    if (::epoll_ctl(epfd_, w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w.fd, &ev) != 0) {
        return std::unexpected(errno_error(errno, "epoll_ctl (watch_fd)"));
    }
    w.registered = true;
    return {};
}

void epoll_reactor::on_watch_event(std::uint32_t slot, std::uint32_t gen, std::uint32_t events) {
    const watch_state* w = watches_.find(watches_.make_id(slot, gen));
    if (w == nullptr) return;
    fd_interest ready = fd_interest::none;
    if ((events & (EPOLLERR | EPOLLHUP)) != 0U) ready = fd_interest::read_write;
    if ((events & EPOLLIN) != 0U) ready = ready | fd_interest::read;
    if ((events & EPOLLOUT) != 0U) ready = ready | fd_interest::write;
    watch_ready(slot, ready);
}

result<listener_id> epoll_reactor::listen(const address& addr, listen_options options,
                                          accept_fn on_accept) {
    assert_owner();
    auto opened = open_listener(addr, options, std::move(on_accept));
    if (!opened) {
        return std::unexpected(opened.error());
    }
    auto [slot, l] = *opened;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = make_key(ev_kind::listener, slot, l->generation);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, l->fd, &ev);
    return listener_id{listeners_.make_id(slot, l->generation)};
}

void epoll_reactor::close_listener(listener_id id) {
    auto* l = listeners_.find(id.get());
    if (l == nullptr) {
        return;
    }
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, l->fd, nullptr);
    ::close(l->fd);
    l->fd = -1;
    listeners_.release(static_cast<std::uint32_t>(id.get()));
}

result<udp_id> epoll_reactor::bind_udp(const address& addr, reuse_port reuse,
                                       datagram_fn on_datagram) {
    assert_owner();
    auto opened = open_udp(addr, reuse, std::move(on_datagram));
    if (!opened) {
        return std::unexpected(opened.error());
    }
    auto [slot, u] = *opened;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = make_key(ev_kind::udp, slot, u->generation);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, u->fd, &ev);
    return udp_id{udps_.make_id(slot, u->generation)};
}

void epoll_reactor::close_udp(udp_id id) {
    auto* u = udps_.find(id.get());
    if (u == nullptr) {
        return;
    }
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, u->fd, nullptr);
    ::close(u->fd);
    u->fd = -1;
    udps_.release(static_cast<std::uint32_t>(id.get()));
}

}  // namespace

result<std::unique_ptr<reactor>> make_epoll_reactor(const reactor_options& options) {
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        return std::unexpected(errno_error(errno, "epoll_create1"));
    }
    return std::make_unique<epoll_reactor>(options, epfd);
}

}  // namespace minibit::io
