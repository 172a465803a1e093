// The io_uring back end's class, shared by its three sources (private to io): uring_reactor.cpp
// (the loop, connections, listeners and UDP sockets), uring_setup.cpp (ring, probe, provided
// buffers) and uring_watch.cpp (watch_fd polls). Ops are tagged in each SQE's user_data.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "reactor_base.hpp"

namespace minibit::io::uring {

enum class op : std::uint8_t {
    wake,
    accept,
    recv,
    send,
    connect,
    cancel,
    udp_poll,
    listener_cancel,
    udp_cancel,
    fd_poll,
    fd_update  // watch_fd: its one-shot poll; a poll update or removal
};

// user_data: op (8) | generation low 24 bits (24) | slot (32).
inline std::uint64_t make_ud(op kind, std::uint32_t slot, std::uint32_t gen) {
    return (std::uint64_t{static_cast<std::uint8_t>(kind)} << 56) |
           (std::uint64_t{gen & 0xffffffU} << 32) | slot;
}

struct decoded {
    op kind;
    std::uint32_t slot;
    std::uint32_t gen24;
};

inline decoded decode(std::uint64_t ud) {
    return {static_cast<op>(ud >> 56), static_cast<std::uint32_t>(ud & 0xffffffffU),
            static_cast<std::uint32_t>((ud >> 32) & 0xffffffU)};
}

/// The provided-buffer group id of the reactor's single receive ring.
constexpr int buffer_group = 0;

/// A completion copied out of the CQ, so handlers may submit while we dispatch.
struct completion {
    std::uint64_t user_data;
    int res;
    std::uint32_t flags;
};

class uring_reactor final : public reactor_base {
public:
    explicit uring_reactor(const reactor_options& options) : reactor_base(options) {}
    ~uring_reactor() override;

    /// Sets up the ring, probes the ops we need and registers the buffer ring.
    result<void> init();

    backend_kind kind() const override { return backend_kind::uring; }
    result<listener_id> listen(const address& addr, listen_options options,
                               accept_fn on_accept) override;
    void close_listener(listener_id id) override;
    void connect(const address& addr, connect_fn on_connected) override;
    result<udp_id> bind_udp(const address& addr, reuse_port reuse,
                            datagram_fn on_datagram) override;
    void close_udp(udp_id id) override;

protected:
    result<void> wait(std::optional<clock::duration> timeout) override;
    void update_reading(std::uint32_t slot, conn_state& c) override;
    void flush(std::uint32_t slot, conn_state& c) override;
    void begin_close(std::uint32_t slot, conn_state& c) override;
    result<void> watch_changed(std::uint32_t slot, watch_state& w) override;

private:
    result<void> setup_ring();
    result<void> check_ops();
    result<void> setup_buffers();
    int submit_and_wait_batch(__kernel_timespec* ts);
    io_uring_sqe* sqe();
    void arm_wake();
    void arm_recv(std::uint32_t slot, conn_state& c);
    void arm_accept(std::uint32_t slot, sock_state& s);
    void arm_udp(std::uint32_t slot, sock_state& s);
    void rearm_udp(std::uint32_t slot, sock_state& s);
    void recycle(std::uint32_t bid);
    void provide_buffers(std::uint32_t upto);
    void dispatch(const completion& cqe);
    void on_recv(std::uint32_t slot, conn_state& c, const completion& cqe);
    void on_send(std::uint32_t slot, conn_state& c, int res);
    void on_connect(std::uint32_t slot, conn_state& c, int res);
    void on_sock(slot_table<sock_state>& table, op kind, std::uint32_t slot, const completion& cqe);
    void deliver_held(std::uint64_t id);
    void maybe_finish(std::uint32_t slot, conn_state& c);
    void close_sock(slot_table<sock_state>& table, op cancel_kind, std::uint64_t id);
    void arm_watch(std::uint32_t slot, watch_state& w, unsigned events);
    void on_watch(op kind, std::uint32_t slot, std::uint32_t gen24, int res);

    io_uring ring_{};
    bool ring_ready_ = false;
    unsigned setup_flags_ = 0;  // the IORING_SETUP_* task-run flags the kernel accepted
    bool batch_wait_ = false;   // reactor_options::batch_wait is on and the kernel has it
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::byte* buffers_ = nullptr;
    std::uint32_t provided_ = 0;  // buffers 0..provided_-1 are in the ring or being delivered
    std::uint64_t wake_value_ = 0;
};

}  // namespace minibit::io::uring
