// reactor_base's UDP read path: batched reads (recvmmsg) and the socket buffers' size.
#include <algorithm>
#include <cerrno>

#include "reactor_base.hpp"

namespace minibit::io {

namespace {

/// Datagrams a hold aims to gather: enough that the wake-up and the system calls of a batch are
/// shared by several, while the hold stays short at higher rates.
constexpr double udp_hold_batch = 16;

}  // namespace

void reactor_base::drain_udp(std::uint32_t slot) {
    auto* u = udps_.at(slot);
    if (u == nullptr || u->drained_turn == turn_) {
        return;  // had its share this turn (epoll reports it again; it is on udp_again_)
    }
    u->drained_turn = turn_;
    if (!udp_) {
        udp_ = std::make_unique<udp_batch>(options_.max_datagram_bytes);
    }
    const std::uint64_t id = udps_.make_id(slot, u->generation);
    // Bounded so one busy socket cannot starve the loop; what is left waits for the next turn.
    std::size_t budget = std::max<std::uint32_t>(options_.udp_datagrams_per_turn, 1);
    std::size_t read = 0;
    bool drained = false;
    while (budget > 0 && !drained) {
        const std::size_t want = std::min(budget, udp_batch::capacity);
        const int n = drain_batch(id, u, want);
        if (u == nullptr) {
            return;
        }
        if (n == -EAGAIN || n == -EWOULDBLOCK) {
            drained = true;
            break;
        }
        // Other errors: EINTR, or a pending socket error (ECONNREFUSED after an ICMP port
        // unreachable) that this call consumed; the datagrams behind it are still queued.
        const std::size_t got = n > 0 ? static_cast<std::size_t>(n) : 0;
        budget -= std::max<std::size_t>(got, 1);
        drained = n >= 0 && got < want;  // a nonblocking recvmmsg stops when the queue is empty
        read += got;
    }
    const auto since = now_ - u->last_read;
    u->busy = read >= 2 || (read == 1 && since < options_.udp_hold);
    if (u->busy) {
        set_udp_hold(*u, read);
    } else {
        u->rate = 0;
    }
    if (read > 0) {
        u->last_read = now_;
    }
    if (!drained) {
        udp_again_.push_back(id);
    }
}

int reactor_base::drain_batch(std::uint64_t id, sock_state*& u, std::size_t want) {
    const int n = udp_->receive(u->fd, want);
    const std::size_t got = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (options_.udp_batch_sends) {
        draining_ = id;  // send_to on this socket stages its datagram (see send_to)
    }
    for (std::size_t i = 0; i < got && u != nullptr && !u->closing; ++i) {
        if (!udp_->truncated(i)) {              // larger than we accept: dropped
            auto on_datagram = u->on_datagram;  // the callback may close the socket
            on_datagram(udp_->data(i), udp_->from(i));
        }
        u = udps_.find(id);
    }
    draining_.reset();
    if (u == nullptr || u->closing) {
        udp_->drop_staged();  // closed by a callback: its answers go with it
        u = nullptr;
    } else if (udp_->staged() > 0) {
        (void)udp_->send_staged(u->fd);
    }
    return n;
}

void reactor_base::set_udp_hold(sock_state& u, std::size_t read) const {
    using us = std::chrono::duration<double, std::micro>;
    const double since_us = us(now_ - u.last_read).count();
    if (read > 0 && since_us > 0) {
        const double now_rate = static_cast<double>(read) * 1e6 / since_us;
        u.rate = u.rate > 0 ? 0.75 * u.rate + 0.25 * now_rate : now_rate;
    }
    const auto cap = static_cast<double>(options_.udp_hold.count());
    const double want = u.rate > 0 ? udp_hold_batch * 1e6 / u.rate : cap;
    u.hold = std::chrono::microseconds(static_cast<std::int64_t>(std::clamp(want, 1.0, cap)));
}

void reactor_base::size_udp_buffers(int fd) const {
    // Capped by net.core.rmem_max / wmem_max; a refusal leaves the default, which still works.
    if (const int bytes = static_cast<int>(options_.udp_buffer_bytes); bytes > 0) {
        (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
        (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
}

result<void> reactor_base::send_to(udp_id id, std::span<const std::byte> bytes, const address& to) {
    const auto* u = udps_.find(id.get());
    if (u == nullptr || u->closing) {
        return stale("send_to");
    }
    // An answer from inside this socket's drain joins the batch sent by one sendmmsg after it.
    if (draining_ == id.get()) {
        if (udp_->staged() == udp_batch::capacity) {
            (void)udp_->send_staged(u->fd);
        }
        if (udp_->stage(bytes, to)) {
            return {};
        }
    }
    // UDP: a nonblocking sendto copies into the socket buffer or fails at once (EAGAIN = drop).
    if (::sendto(u->fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL, to.data(),
                 to.size()) < 0) {
        return std::unexpected(errno_error(errno, "sendto " + to.to_string()));
    }
    return {};
}

}  // namespace minibit::io
