// The UDP announce driver's sockets: N connected nonblocking UDP sockets to one tracker (each
// its own client address, so the tracker gives each its own BEP 15 connection id) and one
// epoll set over them, so one thread drives them all. Owned and used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include <sys/epoll.h>

#include "minibit/core/result.hpp"

namespace minibit::loadgen {

class udp_socket_set {
public:
    udp_socket_set() = default;
    udp_socket_set(const udp_socket_set&) = delete;
    udp_socket_set& operator=(const udp_socket_set&) = delete;
    ~udp_socket_set();

    /// Opens `count` sockets connected to ipv4_be:port (network byte order address).
    [[nodiscard]] result<void> open(std::uint32_t count, std::uint32_t ipv4_be, std::uint16_t port);
    /// Sockets open.
    [[nodiscard]] std::size_t size() const { return fds_.size(); }
    /// The descriptor of socket `i`.
    [[nodiscard]] int fd(std::size_t i) const { return fds_[i]; }
    /// Waits at most `wait` (nanosecond resolution; milliseconds rounded up on kernels before
    /// 5.11) for readable sockets; their indexes.
    [[nodiscard]] std::span<const std::uint32_t> wait(std::chrono::nanoseconds wait);

private:
    std::vector<int> fds_;
    int epoll_ = -1;
    std::vector<epoll_event> events_;
    std::vector<std::uint32_t> ready_;
};

}  // namespace minibit::loadgen
