// The io_uring back end, watch_fd: one one-shot poll per watched fd, re-armed after each
// completion (level-triggered, as watch_fd promises), its mask changed in flight by a poll
// update, or removed and re-armed on kernels without updates.
#include <liburing.h>
#include <poll.h>

#include <cerrno>

#include "uring_reactor.hpp"

namespace minibit::io::uring {
namespace {

unsigned poll_events(fd_interest interest) {
    return (has(interest, fd_interest::read) ? POLLIN : 0U) |
           (has(interest, fd_interest::write) ? POLLOUT : 0U);
}

}  // namespace

void uring_reactor::arm_watch(std::uint32_t slot, watch_state& w, unsigned events) {
    // One-shot, re-armed after each completion: a poll checks readiness when armed, so this
    // is level-triggered, as watch_fd promises (a multishot poll fires on new events only).
    io_uring_sqe* s = sqe();
    io_uring_prep_poll_add(s, w.fd, events);
    io_uring_sqe_set_data64(s, make_ud(op::fd_poll, slot, w.generation));
    w.armed_events = events;
    ++w.ops_in_flight;
}

result<void> uring_reactor::watch_changed(std::uint32_t slot, watch_state& w) {
    const std::uint64_t poll_ud = make_ud(op::fd_poll, slot, w.generation);
    const unsigned want = poll_events(w.interest);
    if (w.armed_events != 0 && (w.closing || (want & ~w.armed_events) != 0)) {
        // io_uring: POLL_REMOVE with IORING_POLL_UPDATE_EVENTS changes the mask of the poll in
        // flight (5.13+; the new user_data must be 0 unless it is updated too); without it,
        // removes the poll, which then completes with -ECANCELED.
        io_uring_sqe* s = sqe();
        if (w.closing) {
            io_uring_prep_poll_remove(s, poll_ud);
        } else {
            io_uring_prep_poll_update(s, poll_ud, 0, want, IORING_POLL_UPDATE_EVENTS);
            w.armed_events = want;
        }
        io_uring_sqe_set_data64(s, make_ud(op::fd_update, slot, w.generation));
        ++w.ops_in_flight;
    } else if (w.armed_events == 0 && want != 0 && !w.closing) {
        arm_watch(slot, w, want);
    }
    // Fewer events than armed: the poll fires, is filtered by the interest and re-armed.
    if (w.closing && w.ops_in_flight == 0) {
        watches_.release(slot);
    }
    return {};
}

void uring_reactor::on_watch(op kind, std::uint32_t slot, std::uint32_t gen24, int res) {
    watch_state* w = watches_.at(slot);
    if (w == nullptr || (w->generation & 0xffffffU) != gen24) {
        return;  // cannot happen while ops are counted; kept as a guard
    }
    --w->ops_in_flight;
    if (kind == op::fd_poll) {
        w->armed_events = 0;
    }
    if (w->closing) {
        if (w->ops_in_flight == 0) {
            watches_.release(slot);
        }
        return;
    }
    if (kind == op::fd_update) {
        // -ENOENT: the poll completed first and is re-armed with the new mask on its own.
        // -EINVAL: a kernel without poll updates (before 5.13): remove the poll instead; its
        // -ECANCELED completion re-arms it below.
        if (res == -EINVAL && w->armed_events != 0) {
            io_uring_sqe* s = sqe();
            io_uring_prep_poll_remove(s, make_ud(op::fd_poll, slot, w->generation));
            io_uring_sqe_set_data64(s, make_ud(op::fd_update, slot, w->generation));
            ++w->ops_in_flight;
        }
        return;
    }
    const std::uint64_t id = watches_.make_id(slot, w->generation);
    if (res == -ECANCELED) {
        if (poll_events(w->interest) != 0) {
            arm_watch(slot, *w, poll_events(w->interest));
        }
        return;
    }
    fd_interest ready = fd_interest::none;
    const auto events = static_cast<unsigned>(res);
    if (res < 0 || (events & (POLLERR | POLLHUP)) != 0U) {
        ready = fd_interest::read_write;
    }
    if (res > 0 && (events & POLLIN) != 0U) {
        ready = ready | fd_interest::read;
    }
    if (res > 0 && (events & POLLOUT) != 0U) {
        ready = ready | fd_interest::write;
    }
    watch_ready(slot, ready);
    w = watches_.find(id);
    // Not re-armed after a failed poll (EBADF...): that would spin; a new interest re-arms.
    if (w != nullptr && !w->closing && w->armed_events == 0 && res >= 0 &&
        poll_events(w->interest) != 0) {
        arm_watch(slot, *w, poll_events(w->interest));
    }
}

}  // namespace minibit::io::uring
