#include "minibit/io/scope.hpp"

#include <algorithm>

namespace minibit::io {

void scope::handle::post(task_fn task) const {
    if (!state_) {
        return;
    }
    // The lock keeps the owner from dying (and its reactor with it) while this thread queues;
    // the task checks again on the reactor thread, where the owner may have died since.
    std::lock_guard lock(state_->mutex);
    if (state_->home == nullptr) {
        return;
    }
    state_->home->post([s = state_, task = std::move(task)] {
        if (s->alive.load(std::memory_order_acquire)) {
            task();
        }
    });
}

scope::scope(reactor& r) : home_(r), state_(std::make_shared<state>(r)) {}

scope::~scope() {
    MINIBIT_ASSERT(owner_.current(), "io::scope destroyed off its owner thread");
    {
        std::lock_guard lock(state_->mutex);
        state_->home = nullptr;
        state_->alive.store(false, std::memory_order_release);
    }
    for (const auto& [key, id] : timers_) {
        home_.cancel_timer(id);
    }
}

timer_id scope::add_timer(reactor::clock::duration delay, task_fn fn) {
    MINIBIT_ASSERT(owner_.current(), "io::scope timer armed off its owner thread");
    const std::uint64_t key = next_key_++;
    // Every timer still armed is cancelled by the destructor, so `this` is valid when it fires.
    const timer_id id = home_.add_timer(delay, [this, key, fn = std::move(fn)] {
        fired(key);
        fn();
    });
    timers_.emplace_back(key, id);
    return id;
}

bool scope::cancel_timer(timer_id id) {
    MINIBIT_ASSERT(owner_.current(), "io::scope timer cancelled off its owner thread");
    const auto it = std::find_if(timers_.begin(), timers_.end(),
                                 [id](const auto& t) { return t.second == id; });
    if (it == timers_.end()) {
        return false;
    }
    *it = timers_.back();
    timers_.pop_back();
    return home_.cancel_timer(id);
}

void scope::fired(std::uint64_t key) {
    const auto it = std::find_if(timers_.begin(), timers_.end(),
                                 [key](const auto& t) { return t.first == key; });
    if (it != timers_.end()) {
        *it = timers_.back();
        timers_.pop_back();
    }
}

void scope::connect(const address& addr, connect_fn fn) {
    MINIBIT_ASSERT(owner_.current(), "io::scope connect off its owner thread");
    home_.connect(addr, [s = state_, fn = std::move(fn)](result<connection> c) {
        if (!s->alive.load(std::memory_order_acquire)) {
            if (c) {
                c->owner()->close(c->id());
            }
            return;
        }
        fn(std::move(c));
    });
}

}  // namespace minibit::io
