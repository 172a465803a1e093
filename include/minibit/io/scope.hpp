// A component's lifetime on its reactor (in the spirit of seastar's gate): timers armed, tasks
// posted and connects started through a scope end with it. The destructor cancels the timers and
// from then on drops every task posted through it, also ones already queued, so no callback needs
// a liveness token of its own. Owned by one component on one reactor thread; post() and handle
// are for any thread (a worker reporting back into a component that may have died meanwhile).
// The reactor must outlive the scope.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "minibit/io/owner_thread.hpp"
#include "minibit/io/reactor.hpp"

namespace minibit::io {

class scope {
    struct state {
        explicit state(reactor& r) : home(&r) {}
        std::mutex mutex;  ///< held while a thread posts, so `home` cannot die under it
        reactor* home;     ///< guarded by mutex; null once the scope died
        std::atomic<bool> alive{true};  ///< read on the reactor thread before each task
    };

public:
    /// A copyable ticket to post into a scope from any thread, also after the scope died.
    class handle {
    public:
        handle() = default;
        /// Runs `task` on the scope's reactor thread if the scope still lives then; any thread.
        void post(task_fn task) const;
        /// False for a default-constructed handle.
        [[nodiscard]] explicit operator bool() const { return state_ != nullptr; }

    private:
        friend class scope;
        explicit handle(std::shared_ptr<state> s) : state_(std::move(s)) {}
        std::shared_ptr<state> state_;
    };

    /// A scope on `r`; call on r's thread.
    explicit scope(reactor& r);
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    /// Cancels the timers still armed and drops every task posted through the scope.
    ~scope();

    /// The reactor the scope lives on.
    [[nodiscard]] reactor& home() const { return home_; }
    /// True on the thread that created the scope (checked builds; see owner_thread).
    [[nodiscard]] bool on_owner_thread() const { return owner_.current(); }

    /// Calls `fn` once after `delay` unless cancelled or the scope died; owner thread.
    timer_id add_timer(reactor::clock::duration delay, task_fn fn);
    /// Cancels a timer armed through this scope; false when it already fired or was cancelled.
    bool cancel_timer(timer_id id);
    /// Runs `task` on the reactor thread unless the scope died by then; any thread.
    void post(task_fn task) const { handle(state_).post(std::move(task)); }
    /// A ticket other threads and objects may keep to post into this scope.
    [[nodiscard]] handle share() const { return handle(state_); }
    /// Connects; `fn` gets the outcome unless the scope died first (then the connection, if
    /// made, is closed).
    void connect(const address& addr, connect_fn fn);
    /// Wraps `fn` so that calls after the scope died do nothing (for callbacks handed to
    /// objects the scope does not own: a reactor socket, a request in flight).
    template <class Fn>
    [[nodiscard]] auto guard(Fn fn) const {
        return [s = state_, fn = std::move(fn)](auto&&... args) {
            if (s->alive.load(std::memory_order_acquire)) {
                fn(std::forward<decltype(args)>(args)...);
            }
        };
    }

private:
    /// Forgets the timer under `key` (it fired).
    void fired(std::uint64_t key);

    reactor& home_;
    std::shared_ptr<state> state_;
    /// Timers armed and not fired or cancelled yet: (key, id); a component arms a handful.
    std::vector<std::pair<std::uint64_t, timer_id>> timers_;
    std::uint64_t next_key_ = 0;
    [[no_unique_address]] owner_thread owner_;
};

}  // namespace minibit::io
