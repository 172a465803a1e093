#include "udp_batch.hpp"

#include <cerrno>
#include <cstring>

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

bool udp_batch::stage(std::span<const std::byte> bytes, const address& to) {
    if (out_count_ == capacity || to.size() > sizeof(sockaddr_storage)) {
        return false;
    }
    std::memcpy(&out_to_[out_count_], to.data(), to.size());
    out_msgs_[out_count_].msg_hdr.msg_namelen = static_cast<socklen_t>(to.size());
    out_size_[out_count_] = bytes.size();
    out_bytes_.insert(out_bytes_.end(), bytes.begin(), bytes.end());
    ++out_count_;
    return true;
}

std::size_t udp_batch::send_staged(int fd) {
    // The payloads' addresses are taken only now: staging may have moved out_bytes_.
    std::size_t offset = 0;
    for (std::size_t i = 0; i < out_count_; ++i) {
        out_iov_[i] = {out_bytes_.data() + offset, out_size_[i]};
        offset += out_size_[i];
        msghdr& h = out_msgs_[i].msg_hdr;
        const socklen_t name_len = h.msg_namelen;
        h = {};
        h.msg_name = &out_to_[i];
        h.msg_namelen = name_len;
        h.msg_iov = &out_iov_[i];
        h.msg_iovlen = 1;
    }
    std::size_t done = 0;
    std::size_t dropped = 0;
    while (done < out_count_) {
        const int n = ::sendmmsg(fd, &out_msgs_[done], static_cast<unsigned>(out_count_ - done),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            ++done;  // the first unsent one failed: drop it and go on with the rest
            ++dropped;
        }
    }
    drop_staged();
    return dropped;
}

}  // namespace minibit::io
