// Batched UDP reads and sends for one reactor: datagrams are read by recvmmsg, up to `capacity`
// per call, so a busy socket costs one system call per batch instead of one per datagram, and a
// short batch shows the queue empty without one more call; answers staged meanwhile leave by one
// sendmmsg.
// Private to io/; owned by one reactor and used on its thread only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

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

    /// Copies one datagram for `to` into the send batch; false (nothing staged) when it is full.
    [[nodiscard]] bool stage(std::span<const std::byte> bytes, const address& to);
    /// Datagrams staged and not yet sent.
    [[nodiscard]] std::size_t staged() const { return out_count_; }
    /// Sends the staged datagrams from fd (sendmmsg, nonblocking) and empties the batch. One
    /// that the kernel refuses (a full buffer, an unreachable address) is dropped, as sendto's
    /// failure would drop it; returns how many were dropped.
    std::size_t send_staged(int fd);
    /// Empties the send batch without sending.
    void drop_staged() { out_count_ = 0, out_bytes_.clear(); }

private:
    std::size_t max_;
    std::unique_ptr<std::byte[]> in_;  // capacity x max_ bytes; pages touched only when used
    std::array<mmsghdr, capacity> in_msgs_{};
    std::array<iovec, capacity> in_iov_{};
    std::array<sockaddr_storage, capacity> in_from_{};
    std::size_t out_count_ = 0;
    std::vector<std::byte> out_bytes_;  // the staged payloads, back to back
    std::array<std::size_t, capacity> out_size_{};
    std::array<mmsghdr, capacity> out_msgs_{};
    std::array<iovec, capacity> out_iov_{};
    std::array<sockaddr_storage, capacity> out_to_{};
};

}  // namespace minibit::io
