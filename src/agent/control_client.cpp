#include "minibit/agent/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
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
        const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60000)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

/// A connected stream socket to the agent at `socket`.
result<int> connect_agent(const std::filesystem::path& socket) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (socket.string().size() >= sizeof sa.sun_path) {
        return fail(client_errc::no_agent,
                    fmt::format("socket path {} is too long", socket.string()));
    }
    std::memcpy(sa.sun_path, socket.c_str(), socket.string().size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        return fail(client_errc::no_agent,
                    fmt::format("no agent at {} ({}); is `minibit-peer agent` running?",
                                socket.string(), std::strerror(err)));
    }
    return fd;
}

/// Sends all of `bytes` by the deadline.
result<void> send_all(int fd, std::string_view bytes, clock::time_point deadline) {
    for (std::size_t sent = 0; sent < bytes.size();) {
        if (!wait_ready(fd, POLLOUT, deadline)) {
            return fail(client_errc::timeout, "the agent did not take the request in time");
        }
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) break;  // the agent may have answered early (an error) and closed
        sent += static_cast<std::size_t>(n);
    }
    return {};
}

/// Reads what is there into `in` once the socket is readable: false on EOF or error.
result<bool> read_some(int fd, std::string& in, clock::time_point deadline) {
    if (!wait_ready(fd, POLLIN, deadline)) {
        return fail(client_errc::timeout, "no answer from the agent in time");
    }
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
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
    auto connected = connect_agent(socket);
    if (!connected) return std::unexpected(connected.error());
    fd_closer fd{*connected};
    std::string request = fmt::format("{} {} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n",
                                      method, target);
    if (!content_type.empty()) request += fmt::format("Content-Type: {}\r\n", content_type);
    if (!body.empty() || method == "POST") {
        request += fmt::format("Content-Length: {}\r\n", body.size());
    }
    request += "\r\n";
    request += body;
    if (auto sent = send_all(fd.fd, request, deadline); !sent) return std::unexpected(sent.error());
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
        auto more = read_some(fd.fd, in, deadline);
        if (!more) return std::unexpected(more.error());
        if (!*more) {
            return fail(client_errc::io, "the agent closed the connection before answering");
        }
    }
}

result<std::unique_ptr<event_stream>> event_stream::open(const std::filesystem::path& socket,
                                                         std::string_view target,
                                                         std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    auto connected = connect_agent(socket);
    if (!connected) return std::unexpected(connected.error());
    std::unique_ptr<event_stream> s(new event_stream(*connected));
    const std::string request = fmt::format(
        "GET {} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n", target);
    if (auto sent = send_all(s->fd_, request, deadline); !sent) {
        return std::unexpected(sent.error());
    }
    // The head, then the first comment line: the subscription is live once it arrived.
    while (true) {
        auto head = wire::parse_http_response(s->buffer_, {});
        if (head) {
            if (head->status != 200) {
                return fail(client_errc::bad_response,
                            fmt::format("the agent refused the event stream (HTTP {}): {}",
                                        head->status, s->buffer_.substr(head->head_bytes)));
            }
            if (s->buffer_.find("\n\n", head->head_bytes) != std::string::npos) {
                s->buffer_.erase(0, head->head_bytes);
                return s;
            }
        } else if (!is(head.error(), wire::http_errc::incomplete)) {
            return fail(client_errc::bad_response, head.error().message());
        }
        auto more = read_some(s->fd_, s->buffer_, deadline);
        if (!more) return std::unexpected(more.error());
        if (!*more) return fail(client_errc::io, "the agent closed the event stream");
    }
}

event_stream::~event_stream() {
    ::close(fd_);
}

result<sse_event> event_stream::next(clock::time_point deadline) {
    while (true) {
        const auto end = buffer_.find("\n\n");
        if (end != std::string::npos) {
            const std::string block = buffer_.substr(0, end + 1);
            buffer_.erase(0, end + 2);
            sse_event ev;
            std::size_t at = 0;
            while (at < block.size()) {
                const auto nl = block.find('\n', at);
                const std::string_view line(block.data() + at, nl - at);
                if (line.starts_with("event: ")) ev.kind = line.substr(7);
                if (line.starts_with("data: ")) ev.data = line.substr(6);
                at = nl + 1;
            }
            if (!ev.kind.empty()) return ev;
            continue;  // a comment (keep-alive)
        }
        auto more = read_some(fd_, buffer_, deadline);
        if (!more) return std::unexpected(more.error());
        if (!*more) return fail(client_errc::io, "the agent closed the event stream");
    }
}

}  // namespace minibit::agent
