// One connected TCP pair over 127.0.0.1 for the socket micro benchmarks: the two ends of a
// fresh connection (an ephemeral listener is opened and closed on the way). Failures are not
// checked: a benchmark on a machine without loopback measures nothing either way.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace minibit::bench {

/// The connecting end and the accepted end of a new loopback TCP connection.
struct tcp_ends {
    int connected = -1;
    int accepted = -1;
};

/// Opens a loopback TCP connection and returns both ends (blocking sockets).
inline tcp_ends open_loopback_pair() {
    const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    (void)::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    (void)::listen(ls, 1);
    (void)::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
    tcp_ends ends;
    ends.connected = ::socket(AF_INET, SOCK_STREAM, 0);
    (void)::connect(ends.connected, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ends.accepted = ::accept(ls, nullptr, nullptr);
    ::close(ls);
    return ends;
}

}  // namespace minibit::bench
