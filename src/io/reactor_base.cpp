#include "reactor_base.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace minibit::io {

template <class T>
std::pair<std::uint32_t, T*> slot_table<T>::acquire() {
    std::uint32_t slot = 0;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
        const std::uint32_t gen = slots_[slot]->generation;
        *slots_[slot] = T{};
        slots_[slot]->generation = gen;
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.push_back(std::make_unique<T>());
        in_use_.push_back(false);
    }
    in_use_[slot] = true;
    ++live_;
    if constexpr (MINIBIT_INVARIANTS_FULL) check_invariants();
    return {slot, slots_[slot].get()};
}

template <class T>
void slot_table<T>::release(std::uint32_t slot) {
    if (slot >= slots_.size() || !in_use_[slot]) {
        return;
    }
    ++slots_[slot]->generation;
    in_use_[slot] = false;
    free_.push_back(slot);
    --live_;
    if constexpr (MINIBIT_INVARIANTS_FULL) check_invariants();
}

template <class T>
void slot_table<T>::check_invariants() const {
    MINIBIT_ASSERT(in_use_.size() == slots_.size(), "slot_table: a flag per slot");
    MINIBIT_ASSERT(live_ + free_.size() == slots_.size(), "slot_table: every slot live or free");
    std::vector<bool> listed(slots_.size(), false);
    for (const std::uint32_t slot : free_) {
        MINIBIT_ASSERT(slot < slots_.size(), "slot_table: a free slot beyond the table");
        MINIBIT_ASSERT(!in_use_[slot], "slot_table: a live slot on the free list");
        MINIBIT_ASSERT(!listed[slot], "slot_table: a slot twice on the free list");
        listed[slot] = true;
    }
    for (const auto& state : slots_) {
        MINIBIT_ASSERT(state != nullptr, "slot_table: a slot without its state");
    }
}

template <class T>
T* slot_table<T>::find(std::uint64_t id) const {
    const auto slot = static_cast<std::uint32_t>(id & 0xffffffffU);
    const auto gen = static_cast<std::uint32_t>(id >> 32);
    if (slot >= slots_.size() || !in_use_[slot] || slots_[slot]->generation != gen) {
        return nullptr;
    }
    return slots_[slot].get();
}

template <class T>
T* slot_table<T>::at(std::uint32_t slot) const {
    return slot < slots_.size() && in_use_[slot] ? slots_[slot].get() : nullptr;
}

template class slot_table<conn_state>;
template class slot_table<sock_state>;
template class slot_table<watch_state>;

std::unexpected<error> reactor_base::stale(std::string_view what) {
    return fail(io_errc::stale_handle, std::string(what) + ": unknown or closed id");
}

reactor_base::reactor_base(const reactor_options& options)
    : scratch_(std::max<std::size_t>(options.recv_buffer_size_bytes, options.max_datagram_bytes)),
      options_(options),
      now_(clock::now()) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        throw std::runtime_error("io: eventfd failed");
    }
}

reactor_base::~reactor_base() {
    conns_.for_each([](std::uint32_t, conn_state& c) {
        if (c.fd >= 0) {
            ::close(c.fd);
        }
    });
    auto close_sock = [](std::uint32_t, sock_state& s) {
        if (s.fd >= 0) {
            ::close(s.fd);
        }
    };
    listeners_.for_each(close_sock);
    udps_.for_each(close_sock);
    ::close(wake_fd_);
}

result<void> reactor_base::run() {
    while (!stopping_.load(std::memory_order_acquire)) {
        if (auto r = run_once(std::chrono::milliseconds(1000)); !r) {
            return r;
        }
    }
    stopping_.store(false, std::memory_order_release);
    return {};
}

result<void> reactor_base::run_once(std::chrono::milliseconds max_wait) {
    assert_owner();
    flush_dirty();
    // Sockets left with datagrams by the per-turn bound are read again after this wait, which
    // then does not block: io_uring's multishot poll fires only for new arrivals.
    ++turn_;
    std::vector<std::uint64_t> again;
    again.swap(udp_again_);
    if (auto r = wait(again.empty() ? next_timeout(max_wait) : clock::duration::zero()); !r) {
        udp_again_.insert(udp_again_.end(), again.begin(), again.end());
        return r;
    }
    now_ = clock::now();
    for (const std::uint64_t id : again) {
        if (udps_.find(id) != nullptr) {
            drain_udp(static_cast<std::uint32_t>(id));
        }
    }
    run_posted();
    run_timers();
    run_deferred();
    return {};
}

std::optional<reactor::clock::duration> reactor_base::next_timeout(
    std::chrono::milliseconds cap) const {
    if (!deferred_.empty() || !dirty_.empty()) {
        return clock::duration::zero();
    }
    clock::duration wait_for = cap;
    if (!timers_.empty()) {
        const auto until = timers_.begin()->first.first - clock::now();
        wait_for = std::min(wait_for, std::max(until, clock::duration::zero()));
    }
    return wait_for;
}

void reactor_base::stop() {
    stopping_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
}

void reactor_base::post(task_fn task) {
    bool was_empty = false;
    {
        std::lock_guard lock(posted_mutex_);
        was_empty = posted_.empty();
        posted_.push_back(std::move(task));
    }
    // Ring the doorbell only on empty -> non-empty; the loop drains the whole queue.
    if (was_empty) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
    }
}

void reactor_base::run_posted() {
    std::vector<task_fn> batch;
    {
        std::lock_guard lock(posted_mutex_);
        batch.swap(posted_);
    }
    for (auto& task : batch) {
        task();
    }
}

void reactor_base::run_deferred() {
    // Tasks may defer more tasks; bound each turn to what was queued at its start.
    std::vector<task_fn> batch;
    batch.swap(deferred_);
    for (auto& task : batch) {
        task();
    }
}

timer_id reactor_base::add_timer(clock::duration delay, task_fn fn) {
    assert_owner();
    const std::uint64_t id = next_timer_++;
    const auto deadline = clock::now() + delay;
    timers_.emplace(std::make_pair(deadline, id), std::move(fn));
    timer_deadlines_.emplace(id, deadline);
    return timer_id{id};
}

bool reactor_base::cancel_timer(timer_id id) {
    assert_owner();
    const auto it = timer_deadlines_.find(id.get());
    if (it == timer_deadlines_.end()) {
        return false;
    }
    timers_.erase(std::make_pair(it->second, id.get()));
    timer_deadlines_.erase(it);
    return true;
}

void reactor_base::run_timers() {
    // Only timers that existed at the start fire now, so a zero-delay re-arm cannot spin.
    const std::uint64_t limit = next_timer_;
    while (!timers_.empty()) {
        auto it = timers_.begin();
        if (it->first.first > now_ || it->first.second >= limit) {
            break;
        }
        auto node = timers_.extract(it);
        timer_deadlines_.erase(node.key().second);
        node.mapped()();
    }
}

result<void> reactor_base::start(conn_id id, conn_handlers handlers) {
    assert_owner();
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase != conn_phase::open) {
        return stale("start");
    }
    const bool first = !c->started;
    c->handlers = std::move(handlers);
    c->started = true;
    if (first) {
        update_reading(static_cast<std::uint32_t>(id.get()), *c);
    }
    return {};
}

result<void> reactor_base::send(conn_id id, std::vector<std::byte> bytes) {
    assert_owner();
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase != conn_phase::open || c->flush_then_close) {
        return stale("send");
    }
    c->out.push(std::move(bytes));
    mark_dirty(static_cast<std::uint32_t>(id.get()), *c);
    return {};
}

result<void> reactor_base::send_borrowed(conn_id id, std::span<const std::byte> bytes,
                                         release_fn on_released) {
    assert_owner();
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase != conn_phase::open || c->flush_then_close) {
        return stale("send_borrowed");
    }
    c->out.push_borrowed(bytes, std::move(on_released));
    mark_dirty(static_cast<std::uint32_t>(id.get()), *c);
    return {};
}

result<void> reactor_base::pause_reading(conn_id id) {
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase != conn_phase::open) {
        return stale("pause_reading");
    }
    if (!c->paused) {
        c->paused = true;
        update_reading(static_cast<std::uint32_t>(id.get()), *c);
    }
    return {};
}

result<void> reactor_base::resume_reading(conn_id id) {
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase != conn_phase::open) {
        return stale("resume_reading");
    }
    if (c->paused && !c->flush_then_close) {
        c->paused = false;
        update_reading(static_cast<std::uint32_t>(id.get()), *c);
    }
    return {};
}

result<std::size_t> reactor_base::bytes_queued(conn_id id) const {
    const auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase == conn_phase::closing) {
        return stale("bytes_queued");
    }
    return c->out.bytes();
}

result<address> reactor_base::peer_address(conn_id id) const {
    const auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase == conn_phase::closing) {
        return stale("peer_address");
    }
    return c->peer;
}

void reactor_base::close(conn_id id, close_mode mode) {
    assert_owner();
    auto* c = conns_.find(id.get());
    if (c == nullptr || c->phase == conn_phase::closing) {
        return;
    }
    const auto slot = static_cast<std::uint32_t>(id.get());
    if (mode == close_mode::after_flush && c->phase == conn_phase::open &&
        (!c->out.empty() || c->send_in_flight)) {
        c->flush_then_close = true;
        if (!c->paused) {
            c->paused = true;
            update_reading(slot, *c);
        }
        return;
    }
    close_slot(slot, *c, std::nullopt);
}

void reactor_base::mark_dirty(std::uint32_t slot, conn_state& c) {
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(conns_.make_id(slot, c.generation));
    }
}

void reactor_base::flush_dirty() {
    std::vector<std::uint64_t> batch;
    batch.swap(dirty_);
    for (const auto id : batch) {
        auto* c = conns_.find(id);
        if (c != nullptr && c->phase == conn_phase::open) {
            c->dirty = false;
            flush(static_cast<std::uint32_t>(id), *c);
        }
    }
}

void reactor_base::close_slot(std::uint32_t slot, conn_state& c, std::optional<error> why) {
    if (c.phase == conn_phase::closing) {
        return;
    }
    c.close_error = std::move(why);
    c.phase = conn_phase::closing;
    begin_close(slot, c);
}

void reactor_base::end_of_input(std::uint32_t slot, conn_state& c) {
    if (c.out.empty() && !c.send_in_flight) {
        close_slot(slot, c, std::nullopt);
        return;
    }
    // As close(after_flush): nothing more to read, so reading stops (epoll would otherwise
    // report the end of input on every turn); a peer that never reads is the owner's timeout.
    c.flush_then_close = true;
    if (!c.paused) {
        c.paused = true;
        update_reading(slot, c);
    }
}

void reactor_base::finish_close(std::uint32_t slot, conn_state& c) {
    if (conns_.at(slot) != &c) {
        return;  // already finished: the slot is free (or reused)
    }
    std::vector<release_fn> released;
    c.out.clear(released);
    const error cause = c.close_error ? *c.close_error
                                      : make_error(io_errc::closed, "connection closed");
    for (auto& fn : released) {
        defer([fn = std::move(fn), cause] { fn(cause); });
    }
    if (c.on_connected) {
        defer([fn = std::move(c.on_connected), cause] { fn(std::unexpected(cause)); });
    } else if (c.handlers.on_close) {
        defer([fn = std::move(c.handlers.on_close), why = c.close_error] { fn(why); });
    }
    conns_.release(slot);
}

bool reactor_base::deliver(std::uint32_t slot, std::span<const std::byte> bytes) {
    auto* c = conns_.at(slot);
    if (c == nullptr || c->phase != conn_phase::open || !c->handlers.on_data) {
        return c != nullptr && c->phase == conn_phase::open;
    }
    const std::uint64_t id = conns_.make_id(slot, c->generation);
    // Move the callback out while it runs: it may close this connection and reuse the slot.
    auto fn = std::move(c->handlers.on_data);
    fn(bytes);
    c = conns_.find(id);
    if (c == nullptr) {
        return false;
    }
    if (!c->handlers.on_data) {
        c->handlers.on_data = std::move(fn);
    }
    return c->phase == conn_phase::open;
}

std::pair<std::uint32_t, conn_state*> reactor_base::adopt(int fd, const address& peer,
                                                          conn_phase phase) {
    auto [slot, c] = conns_.acquire();
    c->fd = fd;
    c->peer = peer;
    c->phase = phase;
    return {slot, c};
}

void reactor_base::on_accepted(std::uint32_t slot, int fd) {
    auto* l = listeners_.at(slot);
    if (l == nullptr || l->closing) {
        ::close(fd);
        return;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const auto peer = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    auto [cslot, c] = adopt(fd, peer, conn_phase::open);
    const conn_id id{conns_.make_id(cslot, c->generation)};
    auto on_accept = l->on_accept;  // a copy: the callback may close the listener
    on_accept(connection(this, id), peer);
}

void reactor_base::accept_all(std::uint32_t slot) {
    // Bounded so one busy listener cannot starve the loop; level-triggered readiness returns.
    for (int i = 0; i < 256; ++i) {
        auto* l = listeners_.at(slot);
        if (l == nullptr || l->closing) {
            return;
        }
        const int fd = ::accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or EMFILE/ENFILE: retried on the next readiness
        }
        on_accepted(slot, fd);
    }
}

}  // namespace minibit::io
