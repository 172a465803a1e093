// Blocking socket calls for test clients, retried when a signal interrupts them.
// A socket with SO_RCVTIMEO/SO_SNDTIMEO returns EINTR instead of restarting, and in a
// process whose other threads run io_uring rings the kernel's task-work notifications
// do interrupt such waits now and then (seen in TSan runs on kernel 6.18).
#pragma once

#include <sys/socket.h>

#include <cerrno>
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

}  // namespace minibit::test_io
