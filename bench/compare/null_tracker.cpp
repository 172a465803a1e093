// A do-nothing tracker for measuring the load generator's own ceiling: it answers BEP 15 connect
// and announce datagrams (no peers) with recvmmsg/sendmmsg, and HTTP GETs with a fixed bencoded
// announce answer (keep-alive, or close when the request says "Connection: close"). No state,
// no parsing beyond what a valid answer needs. One thread, epoll; exits after --seconds.
//
//   null_tracker --port P [--seconds S]     UDP and TCP on 127.0.0.1:P
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t batch = 64;
constexpr std::size_t datagram_bytes = 2048;
constexpr std::uint64_t udp_tag = ~0ULL;
constexpr std::uint64_t listen_tag = ~0ULL - 1;
constexpr std::string_view body = "d8:completei0e10:incompletei0e8:intervali1800e5:peers0:e";

int fail(const char* what) {
    std::fprintf(stderr, "null_tracker: %s: %s\n", what, std::strerror(errno));
    return 1;
}

void put32(std::uint8_t* p, std::uint32_t v) {
    v = htonl(v);
    std::memcpy(p, &v, 4);
}

// Answers up to `batch` datagrams per call; false when nothing was waiting.
bool serve_udp(int fd) {
    static std::array<std::array<std::uint8_t, datagram_bytes>, batch> in{};
    static std::array<std::array<std::uint8_t, 20>, batch> out{};
    std::array<sockaddr_in, batch> from{};
    std::array<iovec, batch> iov{};
    std::array<mmsghdr, batch> msgs{};
    for (std::size_t i = 0; i < batch; ++i) {
        iov[i] = {in[i].data(), in[i].size()};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    const int n = ::recvmmsg(fd, msgs.data(), batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;
    std::array<mmsghdr, batch> replies{};
    std::array<iovec, batch> riov{};
    unsigned r = 0;
    for (int k = 0; k < n; ++k) {
        const auto i = static_cast<std::size_t>(k);
        if (msgs[i].msg_len < 16) continue;
        const std::uint8_t* p = in[i].data();
        std::uint8_t* o = out[r].data();
        std::memcpy(o, p + 8, 4);       // action (big-endian) of the request
        std::memcpy(o + 4, p + 12, 4);  // transaction id
        std::size_t len = 16;
        if (o[3] == 0) {
            std::memset(o + 8, 0x42, 8);  // connection id
        } else {
            put32(o + 8, 1800);  // interval, leechers, seeders: no peers follow
            put32(o + 12, 0);
            put32(o + 16, 0);
            len = 20;
        }
        riov[r] = {o, len};
        replies[r].msg_hdr.msg_iov = &riov[r];
        replies[r].msg_hdr.msg_iovlen = 1;
        replies[r].msg_hdr.msg_name = &from[i];
        replies[r].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
        ++r;
    }
    for (unsigned done = 0; done < r;) {
        const int s = ::sendmmsg(fd, replies.data() + done, r - done, 0);
        if (s <= 0) break;
        done += static_cast<unsigned>(s);
    }
    return static_cast<std::size_t>(n) == batch;
}

struct http_conn {
    std::string in;
};

// Reads what a connection sent and answers every complete request; false: close it.
bool serve_http(int fd, http_conn& c, const std::string& keep, const std::string& close) {
    std::array<char, 16384> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) return false;
        if (n < 0) break;
        c.in.append(buf.data(), static_cast<std::size_t>(n));
        if (c.in.size() > 65536) return false;
    }
    std::string out;
    bool closing = false;
    for (std::size_t end; !closing && (end = c.in.find("\r\n\r\n")) != std::string::npos;) {
        closing = c.in.find("Connection: close", 0) < end;
        out += closing ? close : keep;
        c.in.erase(0, end + 4);
    }
    if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return false;
    return !closing;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    double seconds = 600;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = std::atoi(argv[i + 1]);
        else if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    }
    if (port <= 0 || port > 65535 || !(seconds > 0)) {
        std::fputs("usage: null_tracker --port P [--seconds S]\n", stderr);
        return 2;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    const int buffer = 4 << 20;
    ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    ::setsockopt(udp, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    const auto* addr = reinterpret_cast<const sockaddr*>(&sa);
    if (::bind(udp, addr, sizeof sa) < 0 || ::bind(tcp, addr, sizeof sa) < 0) return fail("bind");
    if (::listen(tcp, 4096) < 0) return fail("listen");
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{EPOLLIN, {.u64 = udp_tag}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, udp, &ev);
    ev.data.u64 = listen_tag;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, tcp, &ev);
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n";
    const std::string keep = head + "\r\n" + std::string(body);
    const std::string close = head + "Connection: close\r\n\r\n" + std::string(body);
    std::vector<http_conn> conns;
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    std::array<epoll_event, 256> events{};
    while (std::chrono::steady_clock::now() < until) {
        const int n = ::epoll_wait(ep, events.data(), events.size(), 100);
        for (int k = 0; k < n; ++k) {
            const std::uint64_t tag = events[static_cast<std::size_t>(k)].data.u64;
            if (tag == udp_tag) {
                for (int rounds = 0; rounds < 16 && serve_udp(udp); ++rounds) {}
            } else if (tag == listen_tag) {
                constexpr int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
                for (int fd; (fd = ::accept4(tcp, nullptr, nullptr, flags)) >= 0;) {
                    const auto at = static_cast<std::size_t>(fd);
                    if (at >= conns.size()) conns.resize(at + 1024);
                    conns[at].in.clear();
                    epoll_event cev{EPOLLIN, {.u64 = static_cast<std::uint64_t>(fd)}};
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
            } else {
                const int fd = static_cast<int>(tag);
                // close() also removes the descriptor from the epoll set.
                if (!serve_http(fd, conns[tag], keep, close)) ::close(fd);
            }
        }
    }
    return 0;
}
