#include "udp_batch.hpp"

#include <cerrno>

namespace minibit::io {

udp_batch::udp_batch(std::size_t max_datagram_bytes)
    : max_(max_datagram_bytes),
      in_(std::make_unique_for_overwrite<std::byte[]>(capacity * max_datagram_bytes)) {
    for (std::size_t i = 0; i < capacity; ++i) {
        in_iov_[i] = {in_.get() + i * max_, max_};
    }
}

int udp_batch::receive(int fd, std::size_t want) {
    const std::size_t n = want < capacity ? want : capacity;
    for (std::size_t i = 0; i < n; ++i) {
        msghdr& h = in_msgs_[i].msg_hdr;
        h = {};
        h.msg_name = &in_from_[i];
        h.msg_namelen = sizeof(sockaddr_storage);
        h.msg_iov = &in_iov_[i];
        h.msg_iovlen = 1;
        in_msgs_[i].msg_len = 0;
    }
    const int got = ::recvmmsg(fd, in_msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT,
                               nullptr);
    return got < 0 ? -errno : got;
}

std::span<const std::byte> udp_batch::data(std::size_t i) const {
    return {in_.get() + i * max_, in_msgs_[i].msg_len};
}

address udp_batch::from(std::size_t i) const {
    return address::from_sockaddr(reinterpret_cast<const sockaddr*>(&in_from_[i]),
                                  in_msgs_[i].msg_hdr.msg_namelen);
}

bool udp_batch::truncated(std::size_t i) const {
    return (in_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

}  // namespace minibit::io
