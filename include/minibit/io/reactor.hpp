// The reactor: one event loop per thread (io_uring or epoll back end behind one interface) that
// owns its TCP connections, listeners, UDP sockets, timers and receive buffers. Callback based;
// knows nothing of BitTorrent. Every member is for the owning thread (the one that created it)
// only, except post() and stop(), which any thread may call; checked builds assert it. Ids carry
// a generation, so a stale id is refused, never dereferenced.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/units.hpp"
#include "minibit/io/address.hpp"
#include "minibit/io/error.hpp"

namespace minibit::io {

enum class backend_kind { auto_select, uring, epoll };

/// Parses "auto", "uring" or "epoll".
[[nodiscard]] result<backend_kind> parse_backend_kind(std::string_view text);
/// "auto", "uring" or "epoll".
[[nodiscard]] std::string_view to_string(backend_kind kind);

/// Connection id: slot in the low 32 bits, generation in the high 32 bits.
using conn_id = strong_index<struct conn_id_tag, std::uint64_t>;
using listener_id = strong_index<struct listener_id_tag, std::uint64_t>;
using udp_id = strong_index<struct udp_id_tag, std::uint64_t>;
using timer_id = strong_index<struct timer_id_tag, std::uint64_t>;
using watch_id = strong_index<struct watch_id_tag, std::uint64_t>;

/// What a watched descriptor waits for, or is ready for: a bit set.
enum class fd_interest : std::uint8_t { none = 0, read = 1, write = 2, read_write = 3 };
[[nodiscard]] constexpr fd_interest operator|(fd_interest a, fd_interest b) {
    return static_cast<fd_interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr fd_interest operator&(fd_interest a, fd_interest b) {
    return static_cast<fd_interest>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
/// True when `set` holds every bit of `bits` (and bits is not none).
[[nodiscard]] constexpr bool has(fd_interest set, fd_interest bits) {
    return bits != fd_interest::none && (set & bits) == bits;
}

enum class reuse_port { no, yes };
/// abort: drop unsent data now; after_flush: send what is queued, then close.
enum class close_mode { abort, after_flush };

/// io_uring task-run mode tried first (falls back down the list when the kernel refuses):
/// deferred = SINGLE_ISSUER|DEFER_TASKRUN (6.1+), cooperative = COOP_TASKRUN (5.19+), plain = none.
enum class uring_taskrun { deferred, cooperative, plain };

struct reactor_options {
    /// io_uring submission queue entries; the completion queue is 8x (multishot makes many CQEs).
    std::uint32_t ring_entries = 256;
    /// Provided receive buffers per reactor (power of two, io_uring) and their size in bytes.
    std::uint32_t recv_buffer_count = 256;
    std::uint32_t recv_buffer_size_bytes = 32 * 1024;
    /// io_uring: of those, the buffers handed to the kernel at start; the set doubles, up to
    /// recv_buffer_count, each time a receive finds none left. The ring is consumed in order, so
    /// every buffer handed out is written into sooner or later; its pages are populated when it
    /// joins (a first write into a missing page would fault, 13-25 us on a VM): a quiet reactor
    /// holds 16 x 32 KiB, not 8 MiB, and a busy one grows to the set it uses.
    std::uint32_t recv_buffers_at_start = 16;
    /// Largest datagram accepted by a UDP socket, in bytes.
    std::uint32_t max_datagram_bytes = 64 * 1024;
    /// Datagrams one UDP socket may deliver per loop turn; the rest wait for the next turn, so a
    /// flood on one socket cannot starve timers and other sockets.
    std::uint32_t udp_datagrams_per_turn = 1024;
    /// io_uring setup flags to try first (docs/io.md has the measurement behind the default).
    uring_taskrun taskrun = uring_taskrun::deferred;
    /// Batched wake-ups (io_uring on kernels with IORING_FEAT_MIN_TIMEOUT, 6.12+; elsewhere
    /// ignored): a loop turn sleeps until `batch_wait_events` completions are ready or, once
    /// `batch_wait` has passed, any one is, so a server at a moderate rate wakes once per few
    /// events instead of once per event, at the cost of up to `batch_wait` of added latency.
    /// Zero (the default) wakes on every event. Timers still fire on time.
    std::chrono::microseconds batch_wait{0};
    std::uint32_t batch_wait_events = 32;
    /// Adaptive UDP batching (io_uring; the epoll back end reads at once): while a socket's
    /// datagrams come faster than one per `udp_hold` (a drain read two or more, or one within
    /// `udp_hold` of the previous one), its next read waits `udp_hold` instead of waking on the
    /// next datagram, so a busy socket is read, and answered, in batches. The hold lasts about
    /// 16 datagrams at the socket's measured rate, at most `udp_hold`. Other sockets and
    /// connections still wake the loop at once. Zero (the default) reads on every wake-up.
    std::chrono::microseconds udp_hold{0};
    /// Batched UDP answers: a datagram that a socket's own on_datagram sends from it (send_to
    /// inside the callback) is copied and sent with the rest of that read batch by one sendmmsg
    /// after it, instead of by one sendto each. send_to then cannot report the kernel's refusal
    /// (too large, no route, full buffer): that datagram alone is dropped, as UDP may. Off by
    /// default; the tracker turns it on.
    bool udp_batch_sends = false;
    /// Receive and send buffer of each UDP socket, in bytes (capped by net.core.rmem_max and
    /// wmem_max); 0 (the default) keeps the system's. A server with many requests in flight
    /// wants a few MiB so that a burst is queued, not dropped.
    std::uint32_t udp_buffer_bytes = 0;
};

struct listen_options {
    reuse_port reuse = reuse_port::no;
    int backlog = 1024;
};

class reactor;

/// A copyable handle on one connection of one reactor; every call is refused once it closed.
class connection {
public:
    connection() = default;
    connection(reactor* owner, conn_id id) : owner_(owner), id_(id) {}
    [[nodiscard]] conn_id id() const { return id_; }
    [[nodiscard]] reactor* owner() const { return owner_; }

private:
    reactor* owner_ = nullptr;
    conn_id id_{};
};

/// Called with the received bytes; the span is valid only during the call.
using data_fn = std::function<void(std::span<const std::byte>)>;
/// Called once per connection: nullopt for a clean end (EOF or local close), else the error.
using close_fn = std::function<void(const std::optional<error>&)>;
/// Called once a borrowed span is no longer used by the kernel: nullopt = sent, else why not.
using release_fn = std::function<void(const std::optional<error>&)>;
using accept_fn = std::function<void(connection, const address& peer)>;
using connect_fn = std::function<void(result<connection>)>;
using datagram_fn = std::function<void(std::span<const std::byte>, const address& from)>;
using task_fn = std::function<void()>;
/// Called with what a watched descriptor is ready for (never none, always within its interest).
using ready_fn = std::function<void(fd_interest ready)>;

struct conn_handlers {
    data_fn on_data;
    close_fn on_close;
};

/// The event loop of one thread.
class reactor {
public:
    using clock = std::chrono::steady_clock;

    reactor() = default;
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;
    virtual ~reactor() = default;

    /// Which back end this is (never auto_select).
    [[nodiscard]] virtual backend_kind kind() const = 0;
    /// The reactor whose loop runs this one's work: itself, or for a wrapping reactor the one
    /// it wraps. What every user of one loop shares (one HTTP client) is kept per loop().
    [[nodiscard]] virtual reactor& loop() { return *this; }

    /// Runs the loop on the calling thread until stop(); one batched submit/wait per turn.
    [[nodiscard]] virtual result<void> run() = 0;
    /// Runs at most one loop turn, waiting at most `max_wait`; for tests and embedding.
    [[nodiscard]] virtual result<void> run_once(std::chrono::milliseconds max_wait) = 0;
    /// Makes run() return after the current turn; any thread.
    virtual void stop() = 0;
    /// Queues `task` to run on the reactor thread and wakes the loop; any thread.
    virtual void post(task_fn task) = 0;

    /// Monotonic time, read once per loop turn.
    [[nodiscard]] virtual clock::time_point now() const = 0;
    /// Calls `fn` once after `delay`; equal deadlines fire in the order they were added.
    virtual timer_id add_timer(clock::duration delay, task_fn fn) = 0;
    /// Cancels a pending timer; false when it already fired or was cancelled.
    virtual bool cancel_timer(timer_id id) = 0;

    /// Listens on `addr` (port 0 = any) and reports each accepted connection.
    [[nodiscard]] virtual result<listener_id> listen(const address& addr, listen_options options,
                                                     accept_fn on_accept) = 0;
    /// The bound address of a listener (to learn the port after binding port 0).
    [[nodiscard]] virtual result<address> local_address(listener_id id) const = 0;
    /// Stops accepting and closes the listening socket.
    virtual void close_listener(listener_id id) = 0;

    /// Connects to `addr`; `on_connected` runs later, on this thread, with the connection or error.
    virtual void connect(const address& addr, connect_fn on_connected) = 0;
    /// Installs the callbacks of a new connection and starts reading. A second call replaces
    /// the callbacks (a connection handed from one owner to another keeps its socket).
    [[nodiscard]] virtual result<void> start(conn_id id, conn_handlers handlers) = 0;
    /// Queues owned bytes; order is kept across both send flavours.
    [[nodiscard]] virtual result<void> send(conn_id id, std::vector<std::byte> bytes) = 0;
    /// Queues bytes the caller keeps alive until `on_released` runs (e.g. a slice of an mmap).
    [[nodiscard]] virtual result<void> send_borrowed(conn_id id, std::span<const std::byte> bytes,
                                                     release_fn on_released) = 0;
    /// Stops delivering on_data (the kernel buffer then fills and the peer slows down).
    [[nodiscard]] virtual result<void> pause_reading(conn_id id) = 0;
    /// Resumes delivering on_data after pause_reading.
    [[nodiscard]] virtual result<void> resume_reading(conn_id id) = 0;
    /// Bytes queued but not yet accepted by the kernel.
    [[nodiscard]] virtual result<std::size_t> bytes_queued(conn_id id) const = 0;
    /// The peer's address of a connection.
    [[nodiscard]] virtual result<address> peer_address(conn_id id) const = 0;
    /// Our side's address of a connection (the local interface it runs over); a wrapping
    /// reactor that does not forward it refuses (io_errc::unavailable).
    [[nodiscard]] virtual result<address> local_address(conn_id id) const;
    /// The kernel's smoothed round-trip time of a TCP connection (TCP_INFO); a wrapping
    /// reactor that does not forward it refuses (io_errc::unavailable).
    [[nodiscard]] virtual result<std::chrono::microseconds> round_trip(conn_id id) const;
    /// Shuts down, cancels all I/O on the socket, drains it, closes; on_close runs later, once.
    virtual void close(conn_id id, close_mode mode = close_mode::abort) = 0;
    /// Number of open connections (including ones still closing).
    [[nodiscard]] virtual std::size_t connection_count() const = 0;

    /// Binds a UDP socket and reports each datagram received on it.
    [[nodiscard]] virtual result<udp_id> bind_udp(const address& addr, reuse_port reuse,
                                                  datagram_fn on_datagram) = 0;
    /// The bound address of a UDP socket.
    [[nodiscard]] virtual result<address> local_address(udp_id id) const = 0;
    /// Sends one datagram (copied before return); a full socket buffer drops it, as UDP may.
    [[nodiscard]] virtual result<void> send_to(udp_id id, std::span<const std::byte> bytes,
                                               const address& to) = 0;
    /// Closes a UDP socket.
    virtual void close_udp(udp_id id) = 0;

    /// Watches a descriptor that the caller owns (another library's socket, a pipe) for
    /// readiness, level-triggered: `on_ready` runs on this thread whenever the descriptor is
    /// ready for something in `interest`, again after each call while it stays ready. An error
    /// or hang-up reports as ready for the whole interest, so the caller's own I/O sees it.
    /// Both back ends implement it; a wrapping reactor that does not refuses (io_errc::unavailable).
    [[nodiscard]] virtual result<watch_id> watch_fd(int fd, fd_interest interest,
                                                    ready_fn on_ready);
    /// Changes what a watch waits for; none pauses it until changed again.
    [[nodiscard]] virtual result<void> set_interest(watch_id id, fd_interest interest);
    /// Ends a watch: on_ready never runs again, even when called from inside on_ready. The
    /// descriptor stays open; close it after this call, never before.
    virtual void unwatch_fd(watch_id id);

    /// Takes a connected, nonblocking TCP socket that another thread or component accepted (a
    /// connection handed between reactors) as a new open connection; start() it as one that
    /// was accepted. On success the reactor owns the descriptor; on an error the caller still
    /// does. A wrapping reactor that does not adopt refuses (io_errc::unavailable).
    [[nodiscard]] virtual result<connection> adopt_socket(int fd);
};

/// Creates a reactor for the calling thread; auto_select tries io_uring, then falls back to epoll
/// (logging one info line with the reason).
[[nodiscard]] result<std::unique_ptr<reactor>> make_reactor(backend_kind kind,
                                                            const reactor_options& options);

/// True when an io_uring reactor with the needed operations can be created here (probed once).
[[nodiscard]] bool uring_available();

}  // namespace minibit::io
