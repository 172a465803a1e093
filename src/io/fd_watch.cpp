// The back-end-independent half of watch_fd (and the refusal of reactors without it): the slot table of watched descriptors, interest
// changes and the guarded call of on_ready. Each back end arms the kernel in watch_changed().
// Also adopt_socket: a connected socket from outside the reactor becomes one of its connections.
#include "reactor_base.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace minibit::io {

// By value like the overrides, which keep the callback.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
result<watch_id> reactor::watch_fd(int /*fd*/, fd_interest /*interest*/, ready_fn /*on_ready*/) {
    return fail(io_errc::unavailable, "watch_fd: this reactor does not watch descriptors");
}

result<void> reactor::set_interest(watch_id /*id*/, fd_interest /*interest*/) {
    return fail(io_errc::unavailable, "set_interest: this reactor does not watch descriptors");
}

void reactor::unwatch_fd(watch_id /*id*/) {}

result<connection> reactor::adopt_socket(int /*fd*/) {
    return fail(io_errc::unavailable, "adopt_socket: this reactor does not adopt sockets");
}

result<watch_id> reactor_base::watch_fd(int fd, fd_interest interest, ready_fn on_ready) {
    if (fd < 0 || !on_ready) {
        return fail(io_errc::stale_handle, "watch_fd: needs an open descriptor and a callback");
    }
    auto [slot, w] = watches_.acquire();
    w->fd = fd;
    w->interest = interest;
    w->on_ready = std::move(on_ready);
    const std::uint64_t id = watches_.make_id(slot, w->generation);
    if (auto r = watch_changed(slot, *w); !r) {
        watches_.release(slot);
        return std::unexpected(std::move(r.error()));
    }
    return watch_id{id};
}

result<void> reactor_base::set_interest(watch_id id, fd_interest interest) {
    auto* w = watches_.find(id.get());
    if (w == nullptr || w->closing) {
        return fail(io_errc::stale_handle, "set_interest: unknown or closed watch");
    }
    if (w->interest != interest) {
        w->interest = interest;
        return watch_changed(static_cast<std::uint32_t>(id.get()), *w);
    }
    return {};
}

void reactor_base::unwatch_fd(watch_id id) {
    auto* w = watches_.find(id.get());
    if (w == nullptr || w->closing) {
        return;
    }
    w->closing = true;
    w->interest = fd_interest::none;
    w->on_ready = nullptr;  // may hold the caller's state: let go of it now
    (void)watch_changed(static_cast<std::uint32_t>(id.get()), *w);
}

void reactor_base::watch_ready(std::uint32_t slot, fd_interest ready) {
    auto* w = watches_.at(slot);
    if (w == nullptr || w->closing) {
        return;
    }
    const fd_interest what = ready & w->interest;
    if (what == fd_interest::none) {
        return;
    }
    // A copy: the callback may unwatch (dropping on_ready) or watch another fd into this slot.
    const ready_fn fn = w->on_ready;
    fn(what);
}

result<connection> reactor_base::adopt_socket(int fd) {
    assert_owner();
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return std::unexpected(errno_error(fd < 0 ? EBADF : errno, "adopt_socket"));
    }
    const auto peer = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    auto [cslot, c] = adopt(fd, peer, conn_phase::open);
    return connection(this, conn_id{conns_.make_id(cslot, c->generation)});
}

}  // namespace minibit::io
