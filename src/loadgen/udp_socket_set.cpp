#include "udp_socket_set.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "minibit/loadgen/announce_workload.hpp"

namespace minibit::loadgen {

namespace {

constexpr int socket_buffer_bytes = 4 << 20;

}  // namespace

udp_socket_set::~udp_socket_set() {
    for (const int fd : fds_) ::close(fd);
    if (epoll_ >= 0) ::close(epoll_);
}

result<void> udp_socket_set::open(std::uint32_t count, std::uint32_t ipv4_be, std::uint16_t port) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0)
        return fail(announce_errc::io, std::string("epoll_create1: ") + std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = ipv4_be;
    for (std::uint32_t i = 0; i < count; ++i) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail(announce_errc::io, std::string("socket: ") + std::strerror(errno));
        fds_.push_back(fd);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &socket_buffer_bytes, sizeof socket_buffer_bytes);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &socket_buffer_bytes, sizeof socket_buffer_bytes);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0)
            return fail(announce_errc::io, std::string("connect: ") + std::strerror(errno));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) < 0)
            return fail(announce_errc::io, std::string("epoll_ctl: ") + std::strerror(errno));
    }
    events_.resize(fds_.size());
    ready_.reserve(fds_.size());
    return {};
}

std::span<const std::uint32_t> udp_socket_set::wait(std::chrono::nanoseconds wait) {
    ready_.clear();
    const auto ns = std::max<std::int64_t>(wait.count(), 0);
    const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    const int max = static_cast<int>(events_.size());
    int n = ::epoll_pwait2(epoll_, events_.data(), max, &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {  // before Linux 5.11: millisecond waits, rounded up
        n = ::epoll_wait(
            epoll_, events_.data(), max,
            static_cast<int>(std::min<std::int64_t>((ns + 999'999) / 1'000'000, 1'000)));
    }
    for (int i = 0; i < n; ++i) ready_.push_back(events_[static_cast<std::size_t>(i)].data.u32);
    return ready_;
}

}  // namespace minibit::loadgen
