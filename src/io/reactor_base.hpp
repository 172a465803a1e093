// What both back ends share: the slot tables of connections, listeners and UDP sockets (ids
// carry a generation so stale ids are refused), timers, the cross-thread post queue with its
// eventfd doorbell, deferred callbacks, and the loop turn. A back end supplies the waiting, the
// socket operations and the teardown. Owned by one reactor thread (post/stop: any thread).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "minibit/core/assert.hpp"
#include "minibit/io/owner_thread.hpp"
#include "minibit/io/reactor.hpp"
#include "send_queue.hpp"
#include "udp_batch.hpp"

namespace minibit::io {

enum class conn_phase { connecting, open, closing };

/// One TCP connection. Lives in a stable heap slot until the back end has drained it.
struct conn_state {
    int fd = -1;
    std::uint32_t generation = 0;
    conn_phase phase = conn_phase::connecting;
    bool started = false;           // start() installed handlers
    bool paused = false;            // pause_reading() in force
    bool flush_then_close = false;  // close(after_flush) waiting for the queue to empty
    bool dirty = false;             // on the reactor's to-flush list
    conn_handlers handlers;
    connect_fn on_connected;
    send_queue out;
    address peer;
    std::optional<error> close_error;  // reported through on_close
    std::uint32_t epoll_events = 0;    // epoll only: the interest set registered now
    bool epoll_registered = false;     // epoll only: fd is in the epoll set
    // io_uring only: operations in flight on this fd, and the memory they point into.
    int ops_in_flight = 0;
    bool recv_armed = false;
    bool send_in_flight = false;
    std::vector<std::byte> held;  // data that arrived while pausing (uring); empty when all
    std::size_t held_from = 0;    // delivered, else bytes before held_from are already out
    msghdr msg{};
    std::array<iovec, max_send_iovecs> iov{};
};

/// A listening TCP socket or a UDP socket.
struct sock_state {
    int fd = -1;
    std::uint32_t generation = 0;
    bool closing = false;
    int ops_in_flight = 0;
    bool armed = false;
    accept_fn on_accept;
    datagram_fn on_datagram;
    std::uint64_t drained_turn = 0;  // UDP: the loop turn that last read it (one share per turn)
    bool busy = false;  // UDP: datagrams come faster than one per udp_hold (see drain_udp)
    std::chrono::steady_clock::time_point last_read{};  // UDP: when the last datagram was read
    double rate = 0;                    // UDP: datagrams per second, smoothed (while busy)
    std::chrono::microseconds hold{0};  // UDP: how long a busy socket's next read waits
};

/// A descriptor watched for its owner (watch_fd); the fd is never ours to close.
struct watch_state {
    int fd = -1;
    std::uint32_t generation = 0;
    fd_interest interest = fd_interest::none;
    bool closing = false;            // unwatched; the slot waits for its ops (io_uring)
    bool registered = false;         // epoll only: fd is in the epoll set
    std::uint32_t armed_events = 0;  // io_uring only: poll mask in flight, 0 = none armed
    int ops_in_flight = 0;           // io_uring only: poll, update and remove ops
    ready_fn on_ready;
};

/// A table of heap slots addressed by (slot, generation) ids.
template <class T>
class slot_table {
public:
    /// Takes a free slot; returns its index and the fresh state.
    std::pair<std::uint32_t, T*> acquire();
    /// Returns a slot; its generation moves on so old ids stop matching.
    void release(std::uint32_t slot);
    /// The live state for an id, or nullptr when the id is stale.
    [[nodiscard]] T* find(std::uint64_t id) const;
    /// The state at a slot whatever its generation (for the back end's own completions).
    [[nodiscard]] T* at(std::uint32_t slot) const;
    [[nodiscard]] std::size_t live() const { return live_; }
    /// Aborts (checked builds) unless the slots, in-use flags, free list and live count agree.
    void check_invariants() const;
    /// Calls fn(slot, state) for every live slot.
    template <class Fn>
    void for_each(Fn&& fn) {
        for (std::uint32_t i = 0; i < slots_.size(); ++i) {
            if (in_use_[i]) {
                fn(i, *slots_[i]);
            }
        }
    }

    [[nodiscard]] static std::uint64_t make_id(std::uint32_t slot, std::uint32_t gen) {
        return (std::uint64_t{gen} << 32) | slot;
    }

private:
    std::vector<std::unique_ptr<T>> slots_;
    std::vector<bool> in_use_;
    std::vector<std::uint32_t> free_;
    std::size_t live_ = 0;
};

/// Shared half of both back ends.
class reactor_base : public reactor {
public:
    explicit reactor_base(const reactor_options& options);
    ~reactor_base() override;

    result<void> run() override;
    result<void> run_once(std::chrono::milliseconds max_wait) override;
    void stop() override;
    void post(task_fn task) override;
    clock::time_point now() const override { return now_; }
    timer_id add_timer(clock::duration delay, task_fn fn) override;
    bool cancel_timer(timer_id id) override;

    result<void> start(conn_id id, conn_handlers handlers) override;
    result<void> send(conn_id id, std::vector<std::byte> bytes) override;
    result<void> send_borrowed(conn_id id, std::span<const std::byte> bytes,
                               release_fn on_released) override;
    result<void> pause_reading(conn_id id) override;
    result<void> resume_reading(conn_id id) override;
    result<std::size_t> bytes_queued(conn_id id) const override;
    result<address> peer_address(conn_id id) const override;
    result<address> local_address(conn_id id) const override;
    result<std::chrono::microseconds> round_trip(conn_id id) const override;
    void close(conn_id id, close_mode mode) override;
    std::size_t connection_count() const override { return conns_.live(); }
    result<address> local_address(listener_id id) const override;
    result<address> local_address(udp_id id) const override;
    result<void> send_to(udp_id id, std::span<const std::byte> bytes, const address& to) override;
    result<watch_id> watch_fd(int fd, fd_interest interest, ready_fn on_ready) override;
    result<void> set_interest(watch_id id, fd_interest interest) override;
    void unwatch_fd(watch_id id) override;
    result<connection> adopt_socket(int fd) override;

protected:
    /// The back ends call this as soon as their wait returns, before dispatching, so handlers
    /// see the time their events arrived rather than the time the wait began (up to a second).
    void refresh_now() { now_ = clock::now(); }
    /// Submits queued work and waits for events up to `timeout` (nullopt = until woken).
    virtual result<void> wait(std::optional<clock::duration> timeout) = 0;
    /// Read interest changed (start, pause, resume) for a live connection.
    virtual void update_reading(std::uint32_t slot, conn_state& c) = 0;
    /// Sends what the queue holds (called once per turn for each dirty connection).
    virtual void flush(std::uint32_t slot, conn_state& c) = 0;
    /// Starts tearing a connection down; the back end calls finish_close() when drained.
    virtual void begin_close(std::uint32_t slot, conn_state& c) = 0;
    /// A watch was added, changed its interest or was unwatched (closing): make the kernel
    /// wait for what it wants now; release the slot once nothing of it is in flight. An error
    /// leaves the slot to the caller.
    virtual result<void> watch_changed(std::uint32_t slot, watch_state& w) = 0;

    /// Calls a watch's on_ready with `ready` masked by its interest, unless it went away.
    void watch_ready(std::uint32_t slot, fd_interest ready);

    /// Checked builds: aborts when called off the thread that created the reactor.
    void assert_owner() const {
        MINIBIT_ASSERT(owner_.current(), "io: reactor used off its owner thread");
    }
    /// Marks a connection for flushing at the end of this turn.
    void mark_dirty(std::uint32_t slot, conn_state& c);
    /// Closes with an error (or nullopt) unless already closing; the one entry to teardown.
    void close_slot(std::uint32_t slot, conn_state& c, std::optional<error> why);
    /// The peer shut down its sending side (a read returned 0): what is queued still goes out
    /// (the answer to a request that came with the FIN), then the connection closes.
    void end_of_input(std::uint32_t slot, conn_state& c);
    /// Releases the queue, schedules on_close (or the failed on_connected) and frees the slot.
    void finish_close(std::uint32_t slot, conn_state& c);
    /// Delivers bytes to on_data; returns false when the connection went away meanwhile.
    bool deliver(std::uint32_t slot, std::span<const std::byte> bytes);
    /// Runs `fn` on this thread after the current completion batch.
    void defer(task_fn fn) { deferred_.push_back(std::move(fn)); }
    /// Registers a connected/accepted fd as a new open connection.
    std::pair<std::uint32_t, conn_state*> adopt(int fd, const address& peer, conn_phase phase);
    /// Adopts an fd accepted on listener `slot` and hands it to on_accept.
    void on_accepted(std::uint32_t slot, int fd);
    /// Accepts every pending connection of a nonblocking listener (bounded per call).
    void accept_all(std::uint32_t slot);
    /// Reads the pending datagrams of a nonblocking UDP socket in batches (recvmmsg), at most
    /// options_.udp_datagrams_per_turn per loop turn, the rest on the next turn; what the
    /// callbacks send from that socket leaves by one sendmmsg per batch. Sets the socket's
    /// `busy` (this drain read two or more datagrams, or one within options_.udp_hold of the
    /// previous one) and `hold` (see set_udp_hold).
    void drain_udp(std::uint32_t slot);
    /// Sets a new UDP socket's buffers to options_.udp_buffer_bytes (0: the system default).
    void size_udp_buffers(int fd) const;
    /// The error for an id `what` was given that is unknown or already closed.
    [[nodiscard]] static std::unexpected<error> stale(std::string_view what);
    /// Creates, binds and (TCP) listens a nonblocking socket.
    static result<int> open_bound(const address& addr, int type, reuse_port reuse, int backlog);
    /// Opens a listening socket and gives it a listener slot, for the back end to arm.
    result<std::pair<std::uint32_t, sock_state*>> open_listener(const address& addr,
                                                                listen_options options,
                                                                accept_fn on_accept);
    /// Opens a bound UDP socket with its buffers sized and gives it a UDP slot, for the back
    /// end to arm.
    result<std::pair<std::uint32_t, sock_state*>> open_udp(const address& addr, reuse_port reuse,
                                                           datagram_fn on_datagram);
    /// Creates a nonblocking TCP socket and starts connecting it.
    static result<int> open_connecting(const address& addr, bool& in_progress);

    int wake_fd_ = -1;  // eventfd: post() and stop() write, the loop reads
    slot_table<conn_state> conns_;
    slot_table<sock_state> listeners_;
    slot_table<sock_state> udps_;
    slot_table<watch_state> watches_;
    std::vector<std::byte> scratch_;  // epoll receive buffer
    reactor_options options_;

private:
    void run_posted();
    /// Reads and delivers one recvmmsg batch of the socket `id`; sends the answers staged by
    /// the callbacks. Returns how many were read, or -errno; u becomes null if it closed.
    int drain_batch(std::uint64_t id, sock_state*& u, std::size_t want);
    /// Busy socket: a hold long enough for about udp_hold_batch datagrams at the measured rate,
    /// at most options_.udp_hold.
    void set_udp_hold(sock_state& u, std::size_t read) const;
    void run_deferred();
    void run_timers();
    void flush_dirty();
    [[nodiscard]] std::optional<clock::duration> next_timeout(std::chrono::milliseconds cap) const;

    clock::time_point now_;
    std::atomic<bool> stopping_{false};
    std::mutex posted_mutex_;
    std::vector<task_fn> posted_;  // guarded by posted_mutex_
    std::vector<task_fn> deferred_;
    std::vector<std::uint64_t> dirty_;       // conn ids to flush this turn
    std::vector<std::uint64_t> udp_again_;   // UDP sockets that hit the per-turn bound
    std::uint64_t turn_ = 1;                 // loop turns so far
    std::unique_ptr<udp_batch> udp_;         // made by the first drain_udp
    std::optional<std::uint64_t> draining_;  // the UDP socket whose callbacks run now
    std::map<std::pair<clock::time_point, std::uint64_t>, task_fn> timers_;
    std::unordered_map<std::uint64_t, clock::time_point> timer_deadlines_;
    std::uint64_t next_timer_ = 1;
    [[no_unique_address]] owner_thread owner_;  // the creating thread (checked builds)
};

}  // namespace minibit::io
