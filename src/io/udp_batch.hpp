// Batched UDP reads for one reactor: datagrams are read by recvmmsg, up to `capacity` per call, so
// a busy socket costs one system call per batch instead of one per datagram, and a short batch
// shows the queue empty without one more call.
// Private to io/; owned by one reactor and used on its thread only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>

#include "minibit/io/address.hpp"

namespace minibit::io {

class udp_batch {
public:
    /// Datagrams one recvmmsg call reads at most.
    static constexpr std::size_t capacity = 32;

    explicit udp_batch(std::size_t max_datagram_bytes);

    /// Reads up to min(want, capacity) datagrams from a nonblocking fd; returns how many, or
    /// -errno (-EAGAIN: none waiting).
    [[nodiscard]] int receive(int fd, std::size_t want);
    /// Payload of received datagram i.
    [[nodiscard]] std::span<const std::byte> data(std::size_t i) const;
    /// Sender of received datagram i.
    [[nodiscard]] address from(std::size_t i) const;
    /// True when datagram i was larger than the largest accepted (it is cut, to be dropped).
    [[nodiscard]] bool truncated(std::size_t i) const;

private:
    std::size_t max_;
    std::unique_ptr<std::byte[]> in_;  // capacity x max_ bytes; pages touched only when used
    std::array<mmsghdr, capacity> in_msgs_{};
    std::array<iovec, capacity> in_iov_{};
    std::array<sockaddr_storage, capacity> in_from_{};
};

}  // namespace minibit::io
