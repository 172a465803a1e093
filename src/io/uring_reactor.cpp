// The io_uring back end (liburing 2.3): multishot accept, multishot recv into one provided
// buffer ring per reactor, one gathered sendmsg in flight per socket, connect and cancel ops,
// one-shot poll for UDP, an eventfd read as the cross-thread doorbell. Every op of a socket is
// counted, and its fd is closed only when the count reaches zero (no stale CQE on a reused fd).
// Set-up is in uring_setup.cpp, watch_fd polls in uring_watch.cpp.
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "uring_reactor.hpp"

namespace minibit::io::uring {

io_uring_sqe* uring_reactor::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
        // SQ full: submit what is queued (completions are reaped by the next wait).
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    if (s == nullptr) {
        std::abort();  // cannot happen: the SQ was just emptied
    }
    return s;
}

void uring_reactor::recycle(std::uint32_t bid) {
    // io_uring_buf_ring_advance publishes the tail with a store-release (the 2.3
    // io_uring_buf_ring_cq_advance does a plain store, so we do not use it).
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{bid} * options_.recv_buffer_size_bytes,
                          options_.recv_buffer_size_bytes, static_cast<unsigned short>(bid),
                          io_uring_buf_ring_mask(options_.recv_buffer_count), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

void uring_reactor::arm_wake() {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
    io_uring_sqe_set_data64(s, make_ud(op::wake, 0, 0));
}

void uring_reactor::arm_recv(std::uint32_t slot, conn_state& c) {
    // io_uring: multishot recv, len 0, buffers picked from the group; re-armed without F_MORE.
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = buffer_group;
    io_uring_sqe_set_data64(s, make_ud(op::recv, slot, c.generation));
    c.recv_armed = true;
    ++c.ops_in_flight;
}

void uring_reactor::arm_accept(std::uint32_t slot, sock_state& s) {
    io_uring_sqe* e = sqe();
    io_uring_prep_multishot_accept(e, s.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(e, make_ud(op::accept, slot, s.generation));
    s.armed = true;
    ++s.ops_in_flight;
}

void uring_reactor::arm_udp(std::uint32_t slot, sock_state& s) {
    io_uring_sqe* e = sqe();
    io_uring_prep_poll_add(e, s.fd, POLLIN);  // one-shot: re-armed, or held, after each drain
    io_uring_sqe_set_data64(e, make_ud(op::udp_poll, slot, s.generation));
    s.armed = true;
    ++s.ops_in_flight;
}

result<void> uring_reactor::wait(std::optional<clock::duration> timeout) {
    io_uring_cqe* first = nullptr;
    __kernel_timespec ts{};
    if (timeout) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout).count();
        ts.tv_sec = ns / 1'000'000'000;
        ts.tv_nsec = ns % 1'000'000'000;
    }
    // One enter per turn: submits everything queued and waits (DEFER_TASKRUN needs this wait).
    const int ret = batch_wait_ ? submit_and_wait_batch(timeout ? &ts : nullptr)
                                : io_uring_submit_and_wait_timeout(
                                      &ring_, &first, 1, timeout ? &ts : nullptr, nullptr);
    refresh_now();
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
        return std::unexpected(errno_error(-ret, "io_uring_submit_and_wait_timeout"));
    }
    std::array<io_uring_cqe*, 256> cqes{};
    std::vector<completion> batch;
    // Bounded: at most 16 batches per turn, so a flood cannot starve timers and posts.
    for (int round = 0; round < 16; ++round) {
        const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes.data(), cqes.size());
        if (n == 0) {
            break;
        }
        batch.clear();
        for (unsigned i = 0; i < n; ++i) {
            batch.push_back({cqes[i]->user_data, cqes[i]->res, cqes[i]->flags});
        }
        io_uring_cq_advance(&ring_, n);
        for (const auto& c : batch) {
            dispatch(c);
        }
    }
    return {};
}

// liburing 2.3 cannot pass min_wait_usec, so the wait is one io_uring_enter by hand with
// IORING_ENTER_EXT_ARG, whose getevents arg carries the batch wait in the field kernel 6.12 named
// min_wait_usec (`pad` in the 2.3 header). Queued SQEs are submitted first, alone: what completes
// inline (a recv whose data is there, a send) is handled at once, since sleeping on it for the
// batch would add a wake-up per step of a connection's exchange. Returns 0 or -errno.
int uring_reactor::submit_and_wait_batch(__kernel_timespec* ts) {
    if (io_uring_sq_ready(&ring_) > 0) {
        if (const int s = io_uring_submit(&ring_); s < 0) {
            return s;
        }
        if (io_uring_cq_ready(&ring_) > 0) {
            return 0;
        }
    }
    __kernel_timespec forever{3600, 0};  // a batch wait wants a timeout; no timer: an hour
    io_uring_getevents_arg arg{};
    arg.pad = static_cast<__u32>(options_.batch_wait.count());
    arg.ts = reinterpret_cast<__u64>(ts != nullptr ? ts : &forever);
    const long r = ::syscall(__NR_io_uring_enter, ring_.ring_fd, 0, options_.batch_wait_events,
                             IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    return r < 0 ? -errno : 0;
}

void uring_reactor::dispatch(const completion& cqe) {
    const auto [kind, slot, gen24] = decode(cqe.user_data);
    if (kind == op::wake) {
        arm_wake();
        return;
    }
    if (kind == op::fd_poll || kind == op::fd_update) {
        on_watch(kind, slot, gen24, cqe.res);
        return;
    }
    if (kind == op::accept || kind == op::listener_cancel || kind == op::udp_poll ||
        kind == op::udp_cancel) {
        auto& table = kind == op::udp_poll || kind == op::udp_cancel ? udps_ : listeners_;
        on_sock(table, kind, slot, cqe);
        return;
    }
    conn_state* c = conns_.at(slot);
    if (c == nullptr || (c->generation & 0xffffffU) != gen24) {
        return;  // cannot happen while ops are counted; kept as a guard
    }
    switch (kind) {
    case op::recv: on_recv(slot, *c, cqe); break;
    case op::send: on_send(slot, *c, cqe.res); break;
    case op::connect: on_connect(slot, *c, cqe.res); break;
    case op::cancel:
        --c->ops_in_flight;
        maybe_finish(slot, *c);
        break;
    default: break;
    }
}

void uring_reactor::on_recv(std::uint32_t slot, conn_state& c, const completion& cqe) {
    const std::uint64_t id = conns_.make_id(slot, c.generation);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0U;
    if (cqe.res > 0 && (cqe.flags & IORING_CQE_F_BUFFER) != 0U) {
        const std::uint32_t bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
        const std::span<const std::byte> data(
            buffers_ + std::size_t{bid} * options_.recv_buffer_size_bytes,
            static_cast<std::size_t>(cqe.res));
        if (c.phase == conn_phase::open && (c.paused || !c.held.empty())) {
            c.held.insert(c.held.end(), data.begin(), data.end());  // arrived while pausing
        } else if (c.phase == conn_phase::open) {
            deliver(slot, data);
        }
        recycle(bid);
    } else if (cqe.res == 0 && c.phase == conn_phase::open) {
        end_of_input(slot, c);
    } else if (cqe.res == -ENOBUFS && provided_ < options_.recv_buffer_count) {
        provide_buffers(std::min(provided_ * 2, options_.recv_buffer_count));  // re-armed below
    } else if (cqe.res < 0 && cqe.res != -ENOBUFS && cqe.res != -ECANCELED &&
               c.phase == conn_phase::open) {
        close_slot(slot, c, errno_error(-cqe.res, "recv"));
    }
    if (more) {
        return;
    }
    // io_uring: multishot recv stopped (no CQE_F_MORE): ENOBUFS, cancel, EOF or error; re-arm
    // if still wanted. Buffers were recycled above, so an ENOBUFS re-arm finds some again.
    auto* cur = conns_.find(id);
    if (cur == nullptr) {
        return;
    }
    cur->recv_armed = false;
    --cur->ops_in_flight;
    if (cur->phase == conn_phase::closing) {
        maybe_finish(slot, *cur);
    } else if (cur->started && !cur->paused && cqe.res != 0) {
        arm_recv(slot, *cur);
    }
}

void uring_reactor::on_send(std::uint32_t slot, conn_state& c, int res) {
    c.send_in_flight = false;
    --c.ops_in_flight;
    if (res >= 0) {
        std::vector<release_fn> released;
        c.out.consume(static_cast<std::size_t>(res), released);
        for (auto& fn : released) {
            defer([fn = std::move(fn)] { fn(std::nullopt); });
        }
    } else if (c.phase == conn_phase::open) {
        close_slot(slot, c, errno_error(-res, "sendmsg"));
    }
    if (c.phase == conn_phase::closing) {
        maybe_finish(slot, c);
    } else if (!c.out.empty()) {
        flush(slot, c);  // short write or more queued: continue from the exact byte
    } else if (c.flush_then_close) {
        close_slot(slot, c, std::nullopt);
    }
}

void uring_reactor::on_connect(std::uint32_t slot, conn_state& c, int res) {
    --c.ops_in_flight;
    if (c.phase == conn_phase::closing) {
        maybe_finish(slot, c);
        return;
    }
    if (res < 0) {
        close_slot(slot, c, errno_error(-res, "connect " + c.peer.to_string()));
        return;
    }
    c.phase = conn_phase::open;
    auto fn = std::move(c.on_connected);
    c.on_connected = nullptr;
    fn(connection(this, conn_id{conns_.make_id(slot, c.generation)}));
}

void uring_reactor::on_sock(slot_table<sock_state>& table, op kind, std::uint32_t slot,
                            const completion& cqe) {
    sock_state* s = table.at(slot);
    if (s == nullptr) {
        if (kind == op::accept && cqe.res >= 0) {
            ::close(cqe.res);
        }
        return;
    }
    const std::uint64_t id = table.make_id(slot, s->generation);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0U;
    if (kind == op::accept && cqe.res >= 0) {
        on_accepted(slot, cqe.res);  // closes the fd itself when the listener is closing
    } else if (kind == op::udp_poll && cqe.res > 0 && !s->closing) {
        drain_udp(slot);
    }
    const bool cancel = kind == op::listener_cancel || kind == op::udp_cancel;
    s = table.find(id);
    if (s == nullptr || (!cancel && more)) {
        return;
    }
    --s->ops_in_flight;
    if (!cancel) {
        s->armed = false;
    }
    if (s->closing) {
        if (s->ops_in_flight == 0) {
            ::close(s->fd);
            table.release(slot);
        }
    } else if (kind == op::accept && cqe.res >= 0) {
        arm_accept(slot, *s);
    } else if (kind == op::accept) {
        // EMFILE/ENFILE end the multishot accept: retry after a pause instead of spinning.
        add_timer(std::chrono::milliseconds(50), [this, id, slot] {
            sock_state* l = listeners_.find(id);
            if (l != nullptr && !l->closing && !l->armed) {
                arm_accept(slot, *l);
            }
        });
    } else if (kind == op::udp_poll) {
        rearm_udp(slot, *s);
    }
}

// A busy socket (reactor_options::udp_hold) is read again after the hold instead of on its next
// datagram: the datagrams that arrive meanwhile are read and answered as one batch.
void uring_reactor::rearm_udp(std::uint32_t slot, sock_state& s) {
    if (options_.udp_hold.count() <= 0 || !s.busy) {
        arm_udp(slot, s);
        return;
    }
    const std::uint64_t id = udps_.make_id(slot, s.generation);
    add_timer(s.hold, [this, id, slot] {
        if (sock_state* u = udps_.find(id); u == nullptr || u->closing) {
            return;
        }
        drain_udp(slot);
        if (sock_state* u = udps_.find(id); u != nullptr && !u->closing) {
            rearm_udp(slot, *u);
        }
    });
}

void uring_reactor::update_reading(std::uint32_t slot, conn_state& c) {
    const bool want = c.phase == conn_phase::open && c.started && !c.paused;
    if (want && !c.held.empty()) {
        // Bytes that arrived while pausing go first, from a deferred task (not inside resume).
        const std::uint64_t id = conns_.make_id(slot, c.generation);
        defer([this, id] { deliver_held(id); });
        return;
    }
    if (want && !c.recv_armed) {
        arm_recv(slot, c);
    } else if (!want && c.recv_armed) {
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel64(s, make_ud(op::recv, slot, c.generation), 0);
        io_uring_sqe_set_data64(s, make_ud(op::cancel, slot, c.generation));
        ++c.ops_in_flight;
    }
}

void uring_reactor::deliver_held(std::uint64_t id) {
    // One receive buffer's worth at a time, as live data comes: an owner that pauses inside a
    // delivery (a download cap) keeps the rest held, so bytes that arrived while pausing reach
    // it no faster than the cap. Bounded: 64 slices per task, then the next task.
    for (int i = 0; i < 64; ++i) {
        conn_state* c = conns_.find(id);
        if (c == nullptr || c->phase != conn_phase::open || c->paused) {
            return;
        }
        if (c->held.empty()) {
            if (!c->recv_armed) {
                arm_recv(static_cast<std::uint32_t>(id), *c);
            }
            return;
        }
        // The slice leaves the connection's state before delivery (the owner may close it),
        // moved when it is all that is held (the usual case), else copied.
        std::vector<std::byte> slice;
        const std::size_t left = c->held.size() - c->held_from;
        if (c->held_from == 0 && left <= options_.recv_buffer_size_bytes) {
            slice.swap(c->held);
        } else {
            const std::size_t n = std::min<std::size_t>(options_.recv_buffer_size_bytes, left);
            const auto first = c->held.begin() + static_cast<std::ptrdiff_t>(c->held_from);
            slice.assign(first, first + static_cast<std::ptrdiff_t>(n));
            c->held_from += n;
            if (c->held_from == c->held.size()) {
                c->held = {};  // gives the memory back: a burst may have held megabytes
                c->held_from = 0;
            }
        }
        if (!deliver(static_cast<std::uint32_t>(id), slice)) {
            return;
        }
    }
    defer([this, id] { deliver_held(id); });
}

void uring_reactor::flush(std::uint32_t slot, conn_state& c) {
    // One send in flight per socket: a second one could be reordered by the kernel.
    if (c.send_in_flight || c.phase != conn_phase::open) {
        return;
    }
    const std::size_t n = c.out.gather(c.iov);
    if (n == 0) {
        std::vector<release_fn> released;
        c.out.consume(0, released);  // only empty borrowed spans were queued
        for (auto& fn : released) {
            defer([fn = std::move(fn)] { fn(std::nullopt); });
        }
        if (c.flush_then_close) {
            close_slot(slot, c, std::nullopt);
        }
        return;
    }
    c.msg = msghdr{};
    c.msg.msg_iov = c.iov.data();
    c.msg.msg_iovlen = n;
    io_uring_sqe* s = sqe();
    io_uring_prep_sendmsg(s, c.fd, &c.msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, make_ud(op::send, slot, c.generation));
    c.send_in_flight = true;
    ++c.ops_in_flight;
}

void uring_reactor::begin_close(std::uint32_t slot, conn_state& c) {
    // io_uring teardown: shutdown (sends FIN, ends the recv), cancel all ops on the fd, wait for
    // every CQE, and only then close the fd (liburing#932, #363).
    ::shutdown(c.fd, SHUT_RDWR);
    if (c.ops_in_flight > 0) {
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel_fd(s, c.fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(s, make_ud(op::cancel, slot, c.generation));
        ++c.ops_in_flight;
    }
    maybe_finish(slot, c);
}

void uring_reactor::maybe_finish(std::uint32_t slot, conn_state& c) {
    // The slot may already be finished (a failed send can complete the close inside close_slot).
    if (conns_.at(slot) != &c || c.phase != conn_phase::closing || c.ops_in_flight > 0) {
        return;
    }
    if (c.fd >= 0) {
        ::close(c.fd);
        c.fd = -1;
    }
    finish_close(slot, c);
}

void uring_reactor::connect(const address& addr, connect_fn on_connected) {
    assert_owner();
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        defer([fn = std::move(on_connected), err = errno_error(errno, "socket")] {
            fn(std::unexpected(err));
        });
        return;
    }
    auto [slot, c] = adopt(fd, addr, conn_phase::connecting);
    c->on_connected = std::move(on_connected);
    io_uring_sqe* s = sqe();
    io_uring_prep_connect(s, fd, c->peer.data(), c->peer.size());
    io_uring_sqe_set_data64(s, make_ud(op::connect, slot, c->generation));
    ++c->ops_in_flight;
}

result<listener_id> uring_reactor::listen(const address& addr, listen_options options,
                                          accept_fn on_accept) {
    assert_owner();
    auto opened = open_listener(addr, options, std::move(on_accept));
    if (!opened) {
        return std::unexpected(opened.error());
    }
    auto [slot, l] = *opened;
    arm_accept(slot, *l);
    return listener_id{listeners_.make_id(slot, l->generation)};
}

result<udp_id> uring_reactor::bind_udp(const address& addr, reuse_port reuse,
                                       datagram_fn on_datagram) {
    assert_owner();
    auto opened = open_udp(addr, reuse, std::move(on_datagram));
    if (!opened) {
        return std::unexpected(opened.error());
    }
    auto [slot, u] = *opened;
    arm_udp(slot, *u);
    return udp_id{udps_.make_id(slot, u->generation)};
}

void uring_reactor::close_sock(slot_table<sock_state>& table, op cancel_kind, std::uint64_t id) {
    sock_state* s = table.find(id);
    if (s == nullptr || s->closing) {
        return;
    }
    s->closing = true;
    if (s->ops_in_flight == 0) {
        ::close(s->fd);
        table.release(static_cast<std::uint32_t>(id));
        return;
    }
    io_uring_sqe* e = sqe();
    io_uring_prep_cancel_fd(e, s->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(e, make_ud(cancel_kind, static_cast<std::uint32_t>(id), s->generation));
    ++s->ops_in_flight;
}

void uring_reactor::close_listener(listener_id id) {
    close_sock(listeners_, op::listener_cancel, id.get());
}
void uring_reactor::close_udp(udp_id id) {
    close_sock(udps_, op::udp_cancel, id.get());
}

}  // namespace minibit::io::uring
