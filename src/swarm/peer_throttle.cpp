// peer_connection, rate caps: served blocks are charged to the upload buckets before they are
// queued, received bytes to the download buckets as they arrive. A bucket in debt stops serving
// (or pauses reading from the socket) until one timer, set for exactly the debt, resumes it:
// no polling and no busy loop, whatever the number of connections.
#include "minibit/core/assert.hpp"
#include "minibit/swarm/peer_connection.hpp"
#include "minibit/swarm/rate_limiter.hpp"
#include "minibit/swarm/torrent_options.hpp"

namespace minibit::swarm {

bool peer_connection::may_send() {
    const auto& limits = ctx_.options.limits;
    if (!limits) {
        return true;
    }
    if (send_waiting_) {
        return false;
    }
    const auto wait = limiter_wait(limits->upload, ctx_.reactor.now());
    if (wait == wait.zero()) {
        return true;
    }
    send_waiting_ = true;
    std::weak_ptr<peer_connection> weak = weak_from_this();
    ctx_.reactor.add_timer(wait, [weak] {
        if (auto self = weak.lock()) {
            self->send_waiting_ = false;
            self->serve();
            self->flush_out();
        }
    });
    return false;
}

void peer_connection::count_sent(std::uint32_t bytes) {
    if (const auto& limits = ctx_.options.limits) {
        limiter_charge(limits->upload, bytes, ctx_.reactor.now());
    }
}

void peer_connection::count_received(std::size_t bytes) {
    const auto& limits = ctx_.options.limits;
    if (!limits) {
        return;
    }
    const auto now = ctx_.reactor.now();
    limiter_charge(limits->download, bytes, now);
    if (read_paused_) {
        return;
    }
    const auto wait = limiter_wait(limits->download, now);
    if (wait == wait.zero() || !ctx_.reactor.pause_reading(conn_.id())) {
        return;
    }
    read_paused_ = true;
    std::weak_ptr<peer_connection> weak = weak_from_this();
    ctx_.reactor.add_timer(wait, [weak] {
        if (auto self = weak.lock()) {
            self->read_paused_ = false;
            if (!self->closing()) {
                [[maybe_unused]] auto r = self->ctx_.reactor.resume_reading(self->conn_.id());
            }
        }
    });
}

}  // namespace minibit::swarm
