#include "minibit/agent/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "minibit/wire/http_head.hpp"

namespace minibit::agent {
namespace {

using clock = std::chrono::steady_clock;

/// Closes the descriptor at scope exit.
struct fd_closer {
    int fd;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

/// Waits until `fd` is ready for `events` or the deadline passed.
bool wait_ready(int fd, short events, clock::time_point deadline) {
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

}  // namespace

std::string url_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out.push_back(static_cast<char>(c));
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

result<control_reply> call_agent(const std::filesystem::path& socket, std::string_view method,
                                 std::string_view target, std::string_view content_type,
                                 std::string_view body, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (socket.string().size() >= sizeof sa.sun_path) {
        return fail(client_errc::no_agent,
                    fmt::format("socket path {} is too long", socket.string()));
    }
    std::memcpy(sa.sun_path, socket.c_str(), socket.string().size());
    fd_closer fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0 || ::connect(fd.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        return fail(client_errc::no_agent,
                    fmt::format("no agent at {} ({}); is `minibit-peer agent` running?",
                                socket.string(), std::strerror(errno)));
    }
    std::string request = fmt::format("{} {} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n",
                                      method, target);
    if (!content_type.empty()) request += fmt::format("Content-Type: {}\r\n", content_type);
    if (!body.empty() || method == "POST") {
        request += fmt::format("Content-Length: {}\r\n", body.size());
    }
    request += "\r\n";
    request += body;
    for (std::size_t sent = 0; sent < request.size();) {
        if (!wait_ready(fd.fd, POLLOUT, deadline)) {
            return fail(client_errc::timeout, "the agent did not take the request in time");
        }
        const ssize_t n = ::send(fd.fd, request.data() + sent, request.size() - sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) break;  // the agent may have answered early (an error) and closed
        sent += static_cast<std::size_t>(n);
    }
    std::string in;
    wire::http_limits lim;
    lim.max_body_bytes = 64U << 20U;
    while (true) {
        auto head = wire::parse_http_response(in, lim);
        if (head && head->status == 100) {
            in.erase(0, head->head_bytes);
            continue;
        }
        if (head) {
            wire::http_body_decoder dec(*head, lim);
            control_reply reply{head->status, {}};
            auto used = dec.feed(std::string_view(in).substr(head->head_bytes), reply.body);
            if (!used) {
                return fail(client_errc::bad_response, used.error().message());
            }
            if (dec.done()) return reply;
        } else if (!is(head.error(), wire::http_errc::incomplete)) {
            return fail(client_errc::bad_response, head.error().message());
        }
        if (!wait_ready(fd.fd, POLLIN, deadline)) {
            return fail(client_errc::timeout, "no answer from the agent in time");
        }
        char buf[65536];
        const ssize_t n = ::recv(fd.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) {
            return fail(client_errc::io, "the agent closed the connection before answering");
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace minibit::agent
