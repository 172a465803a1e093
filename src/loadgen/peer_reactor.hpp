// A reactor seen by one in-process peer: forwards every call to the shared reactor of its thread
// and runs every callback (accepts, connects, data, closes, timers, posted tasks, sends released,
// datagrams) inside a peer_scope, so log lines know the peer. Connections handed to the peer
// name this reactor as their owner. Same threading as the reactor it wraps; it must outlive
// every callback it registered (the in-process runtime keeps it until its threads are joined).
#pragma once

#include <cstdint>

#include "minibit/io/reactor.hpp"

namespace minibit::loadgen {

/// One peer's view of a shared reactor.
class peer_reactor final : public io::reactor {
public:
    /// Wraps `inner` for peer `peer` (the index written into its log lines).
    peer_reactor(io::reactor& inner, std::int64_t peer) : inner_(inner), peer_(peer) {}

    [[nodiscard]] io::backend_kind kind() const override { return inner_.kind(); }
    /// The shared reactor's loop: the peers of one thread share what is kept per loop.
    [[nodiscard]] io::reactor& loop() override { return inner_.loop(); }
    [[nodiscard]] result<void> run() override { return inner_.run(); }
    [[nodiscard]] result<void> run_once(std::chrono::milliseconds max_wait) override {
        return inner_.run_once(max_wait);
    }
    void stop() override { inner_.stop(); }
    void post(io::task_fn task) override;
    [[nodiscard]] clock::time_point now() const override { return inner_.now(); }
    io::timer_id add_timer(clock::duration delay, io::task_fn fn) override;
    bool cancel_timer(io::timer_id id) override { return inner_.cancel_timer(id); }

    [[nodiscard]] result<io::listener_id> listen(const io::address& addr,
                                                 io::listen_options options,
                                                 io::accept_fn on_accept) override;
    [[nodiscard]] result<io::address> local_address(io::listener_id id) const override {
        return inner_.local_address(id);
    }
    void close_listener(io::listener_id id) override { inner_.close_listener(id); }

    void connect(const io::address& addr, io::connect_fn on_connected) override;
    [[nodiscard]] result<void> start(io::conn_id id, io::conn_handlers handlers) override;
    [[nodiscard]] result<void> send(io::conn_id id, std::vector<std::byte> bytes) override {
        return inner_.send(id, std::move(bytes));
    }
    [[nodiscard]] result<void> send_borrowed(io::conn_id id, std::span<const std::byte> bytes,
                                             io::release_fn on_released) override;
    [[nodiscard]] result<void> pause_reading(io::conn_id id) override {
        return inner_.pause_reading(id);
    }
    [[nodiscard]] result<void> resume_reading(io::conn_id id) override {
        return inner_.resume_reading(id);
    }
    [[nodiscard]] result<std::size_t> bytes_queued(io::conn_id id) const override {
        return inner_.bytes_queued(id);
    }
    [[nodiscard]] result<io::address> peer_address(io::conn_id id) const override {
        return inner_.peer_address(id);
    }
    [[nodiscard]] result<io::address> local_address(io::conn_id id) const override {
        return inner_.local_address(id);
    }
    [[nodiscard]] result<std::chrono::microseconds> round_trip(io::conn_id id) const override {
        return inner_.round_trip(id);
    }
    void close(io::conn_id id, io::close_mode mode = io::close_mode::abort) override {
        inner_.close(id, mode);
    }
    /// Connections of the whole shared reactor (every peer on this thread).
    [[nodiscard]] std::size_t connection_count() const override {
        return inner_.connection_count();
    }

    [[nodiscard]] result<io::udp_id> bind_udp(const io::address& addr, io::reuse_port reuse,
                                              io::datagram_fn on_datagram) override;
    [[nodiscard]] result<io::address> local_address(io::udp_id id) const override {
        return inner_.local_address(id);
    }
    [[nodiscard]] result<void> send_to(io::udp_id id, std::span<const std::byte> bytes,
                                       const io::address& to) override {
        return inner_.send_to(id, bytes, to);
    }
    void close_udp(io::udp_id id) override { inner_.close_udp(id); }
    // Descriptors of other libraries are watched on the real reactor (the tracker clients'
    // shared http_fetcher already lives on loop()).
    [[nodiscard]] result<io::watch_id> watch_fd(int fd, io::fd_interest interest,
                                                io::ready_fn on_ready) override {
        return inner_.watch_fd(fd, interest, std::move(on_ready));
    }
    [[nodiscard]] result<void> set_interest(io::watch_id id, io::fd_interest interest) override {
        return inner_.set_interest(id, interest);
    }
    void unwatch_fd(io::watch_id id) override { inner_.unwatch_fd(id); }

private:
    io::reactor& inner_;
    std::int64_t peer_;
};

}  // namespace minibit::loadgen
