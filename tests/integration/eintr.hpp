// Blocking socket calls for test clients, retried when a signal interrupts them.
// A socket with SO_RCVTIMEO/SO_SNDTIMEO returns EINTR instead of restarting, and in a
// process whose other threads run io_uring rings the kernel's task-work notifications
// do interrupt such waits now and then (seen in TSan runs on kernel 6.18).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>

namespace minibit::test_io {

inline ssize_t recv_retry(int fd, void* buf, std::size_t len, int flags) {
    ssize_t n = 0;
    do {
        n = ::recv(fd, buf, len, flags);
    } while (n < 0 && errno == EINTR);
    return n;
}

inline ssize_t send_retry(int fd, const void* buf, std::size_t len, int flags) {
    ssize_t n = 0;
    do {
        n = ::send(fd, buf, len, flags);
    } while (n < 0 && errno == EINTR);
    return n;
}

/// poll() that resumes after EINTR with what is left of timeout_ms (never longer in all).
inline int poll_retry(pollfd* fds, nfds_t n, int timeout_ms) {
    using clock = std::chrono::steady_clock;
    const auto end = clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        const int r = ::poll(fds, n, timeout_ms);
        if (r >= 0 || errno != EINTR) return r;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock::now());
        timeout_ms = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
}

}  // namespace minibit::test_io
