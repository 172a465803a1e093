// One hiredis 0.14.1 asynchronous connection driven by an io reactor: its socket is a watch_fd,
// hiredis's read/write hooks set the watch's interest, and the reactor's timers supply what
// 0.14.1 lacks (connect and reply deadlines: on expiry the context is freed, which fails every
// waiting command with a null reply). Host names must be resolved before (store_address::
// resolve): hiredis would call getaddrinfo on this thread. No reconnect of its own: the owner
// calls connect() again. Owned by and called on its reactor's thread only. The process must
// ignore SIGPIPE (hiredis writes with write(2)).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "minibit/io/reactor.hpp"
#include "minibit/tracker/store.hpp"

struct redisAsyncContext;
struct redisReply;

namespace minibit::tracker {

/// Connection state of a redis_link.
enum class link_state : std::uint8_t { down, connecting, up };

/// An asynchronous Redis connection on one reactor.
class redis_link {
public:
    /// A command's reply; nullptr when the connection went away before it came.
    using reply_fn = std::function<void(const redisReply*)>;
    struct handlers {
        std::function<void()> on_up;                      ///< connected (and SELECTed)
        std::function<void(const std::string&)> on_down;  ///< lost or failed, with why
    };

    redis_link(io::reactor& r, store_address address, std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds reply_timeout, handlers h);
    ~redis_link();
    redis_link(const redis_link&) = delete;
    redis_link& operator=(const redis_link&) = delete;

    /// Starts connecting unless connecting or up; on_up or on_down follows, never inside.
    void connect();
    /// Drops the connection without calling on_down; waiting commands get nullptr.
    void close();
    /// Drops the connection after the reactor is gone (its thread ended): touches no watch and
    /// no timer, which died with it. The only call allowed afterwards is the destructor.
    void abandon();
    [[nodiscard]] link_state state() const { return state_; }
    /// Queues one RESP-encoded command; `fn` (if any) gets the reply. False when not up.
    bool send(std::string_view resp, reply_fn fn = nullptr);
    /// Writes what is queued now instead of after the next writable report.
    void kick();
    /// Commands sent and not yet answered.
    [[nodiscard]] std::size_t pending() const { return pending_; }
    /// Error replies to commands sent without a callback, so far.
    [[nodiscard]] std::uint64_t error_replies() const { return error_replies_; }

private:
    struct waiting;
    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void hook_add_read(void* self);
    static void hook_del_read(void* self);
    static void hook_add_write(void* self);
    static void hook_del_write(void* self);
    static void hook_cleanup(void* self);
    void set_interest(io::fd_interest bit, bool on);
    void fail(const std::string& why);
    void report_down();
    void notify(link_state event);
    void check_replies();
    void cancel_timers();

    io::reactor& r_;
    store_address address_;
    std::chrono::milliseconds connect_timeout_;
    std::chrono::milliseconds reply_timeout_;
    handlers handlers_;
    redisAsyncContext* ctx_ = nullptr;
    std::optional<io::watch_id> watch_;
    io::fd_interest interest_ = io::fd_interest::none;
    link_state state_ = link_state::down;
    std::string down_reason_;
    std::size_t pending_ = 0;
    io::reactor::clock::time_point last_progress_{};  ///< last reply, or first send after idle
    std::uint64_t error_replies_ = 0;
    bool closing_ = false;    ///< close() or the destructor is freeing the context: no on_down
    bool abandoned_ = false;  ///< the reactor is gone: never call it again
    std::optional<io::timer_id> connect_timer_;
    std::optional<io::timer_id> reply_timer_;
    std::optional<io::timer_id> notify_timer_;
    std::optional<link_state> event_;  ///< waiting for notify_timer_
};

}  // namespace minibit::tracker
