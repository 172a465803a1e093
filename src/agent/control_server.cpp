#include "minibit/agent/control_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "control_connection.hpp"
#include "minibit/agent/agent.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

namespace {

/// Bytes read from a client per readiness report.
constexpr std::size_t read_chunk_bytes = std::size_t{64} * 1024;

std::string_view reason_phrase(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

/// "application/json; charset=utf-8" -> "application/json".
std::string media_type(std::string_view value) {
    auto semi = value.find(';');
    auto t = value.substr(0, semi);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return lower(t);
}

sockaddr_un unix_address(const fs::path& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.string().size());
    return sa;
}

/// True when something accepts connections on the socket file `path`.
bool someone_listens(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const auto sa = unix_address(path);
    const bool up = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return up;
}

}  // namespace

control_server::control_server(io::reactor& reactor, handler_fn handler, control_limits limits)
    : reactor_(reactor), handler_(std::move(handler)), limits_(limits), scope_(reactor) {}

result<std::unique_ptr<control_server>> control_server::open(io::reactor& reactor,
                                                             const fs::path& path,
                                                             handler_fn handler,
                                                             control_limits limits) {
    if (path.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
        return fail(agent_errc::bad_path, fmt::format("socket path {} is too long", path.string()));
    }
    std::error_code ec;
    if (path.has_parent_path()) {
        fs::create_directories(path.parent_path(), ec);
    }
    const auto st = fs::symlink_status(path, ec);
    if (!ec && fs::exists(st)) {
        if (!fs::is_socket(st)) {
            return fail(agent_errc::bad_path,
                        fmt::format("{} exists and is not a socket", path.string()));
        }
        if (someone_listens(path)) {
            return fail(agent_errc::busy,
                        fmt::format("another agent is listening on {}", path.string()));
        }
        fs::remove(path, ec);  // left behind by an agent that did not stop cleanly
    }
    std::unique_ptr<control_server> s(new control_server(reactor, std::move(handler), limits));
    s->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd_ < 0) {
        return fail(agent_errc::state, fmt::format("socket: {}", std::strerror(errno)));
    }
    const auto sa = unix_address(path);
    const mode_t old = ::umask(0117);  // created 0660 from the start
    const int bound = ::bind(s->fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    ::umask(old);
    if (bound != 0 || ::listen(s->fd_, 64) != 0) {
        return fail(agent_errc::bad_path,
                    fmt::format("cannot listen on {}: {}", path.string(), std::strerror(errno)));
    }
    s->path_ = path;
    ::chmod(path.c_str(), 0660);
    if (auto w = s->start_watch(); !w) {
        return std::unexpected(w.error());
    }
    return s;
}

result<std::unique_ptr<control_server>> control_server::open_tcp(io::reactor& reactor,
                                                                 const std::string& addr,
                                                                 std::string token,
                                                                 handler_fn handler,
                                                                 control_limits limits) {
    auto where = io::address::parse(addr);
    if (!where) {
        return fail(agent_errc::bad_request, fmt::format("bad address '{}' (want ADDR:PORT): {}",
                                                         addr, where.error().message()));
    }
    std::unique_ptr<control_server> s(new control_server(reactor, std::move(handler), limits));
    s->token_ = std::move(token);
    s->fd_ = ::socket(where->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd_ < 0) {
        return fail(agent_errc::state, fmt::format("socket: {}", std::strerror(errno)));
    }
    const int one = 1;
    ::setsockopt(s->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s->fd_, where->data(), where->size()) != 0 || ::listen(s->fd_, 64) != 0) {
        return fail(agent_errc::bad_path,
                    fmt::format("cannot listen on {}: {}", addr, std::strerror(errno)));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(s->fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    s->port_ = io::address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), len).port();
    if (auto w = s->start_watch(); !w) {
        return std::unexpected(w.error());
    }
    return s;
}

result<void> control_server::start_watch() {
    auto w = reactor_.watch_fd(fd_, io::fd_interest::read,
                               scope_.guard([this](io::fd_interest) { on_accept(); }));
    if (!w) {
        return fail(agent_errc::state, "cannot watch the control socket: " + w.error().message());
    }
    watch_ = *w;
    return {};
}

control_server::~control_server() {
    for (auto& [id, c] : clients_) {
        if (c->end_stream) c->end_stream();
        reactor_.unwatch_fd(c->watch);
        ::close(c->fd);
    }
    if (fd_ >= 0) {
        reactor_.unwatch_fd(watch_);
        ::close(fd_);
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove(path_, ec);
        }
    }
}

void control_server::on_accept() {
    while (true) {
        const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or an error the next report retries
        }
        if (clients_.size() >= limits_.max_clients && !evict_slowest_head()) {
            static constexpr std::string_view busy =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                "Content-Length: 31\r\nConnection: close\r\n\r\n{\"error\":\"too many connections\"}";
            [[maybe_unused]] auto n = ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);
            ::close(fd);
            continue;
        }
        const std::uint64_t id = next_id_++;
        auto c = std::make_unique<client>();
        c->fd = fd;
        auto w = reactor_.watch_fd(
            fd, io::fd_interest::read,
            scope_.guard([this, id](io::fd_interest r) { on_client(id, r); }));
        if (!w) {
            ::close(fd);
            continue;
        }
        c->watch = *w;
        c->deadline = scope_.add_timer(limits_.request_timeout, [this, id] { drop(id); });
        clients_.emplace(id, std::move(c));
    }
}

void control_server::on_client(std::uint64_t id, io::fd_interest ready) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client& c = *it->second;
    if (io::has(ready, io::fd_interest::write) && !c.out.empty()) {
        write_to(id, c);
        return;
    }
    if (io::has(ready, io::fd_interest::read)) {
        read_from(id, c);
    }
}

void control_server::read_from(std::uint64_t id, client& c) {
    char buf[read_chunk_bytes];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        if (!c.answered || c.closing || c.streaming) {
            drop(id);  // gone before asking anything complete, or done after the answer
        } else {
            [[maybe_unused]] auto r = reactor_.set_interest(c.watch, io::fd_interest::none);
        }
        return;
    }
    if (c.answered) {
        return;  // one request per connection: later bytes are dropped
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    try_request(id, c);
}

void control_server::try_request(std::uint64_t id, client& c) {
    wire::http_limits lim;
    lim.max_head_bytes = limits_.max_head_bytes;
    lim.max_body_bytes = limits_.max_body_bytes;
    if (!c.body) {
        auto head = wire::parse_http_request(c.in, lim);
        if (!head) {
            if (is(head.error(), wire::http_errc::incomplete)) {
                return;
            }
            const int status = is(head.error(), wire::http_errc::too_large)        ? 431
                               : is(head.error(), wire::http_errc::body_too_large) ? 413
                                                                                   : 400;
            answer(id, {status, error_body(head.error().message())});
            return;
        }
        if (head->framing == wire::body_framing::content_length &&
            head->content_length > limits_.max_body_bytes) {
            answer(id, {413, error_body(fmt::format("body too large (limit {} bytes)",
                                                    limits_.max_body_bytes))});
            return;
        }
        const auto expect = head->headers.find("Expect");
        if (expect && lower(*expect) == "100-continue" && c.in.size() == head->head_bytes) {
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            [[maybe_unused]] auto sent = ::send(c.fd, cont.data(), cont.size(), MSG_NOSIGNAL);
        }
        if (!token_.empty() &&
            !authorized(std::string(head->headers.find("Authorization").value_or("")))) {
            answer(id, {401, error_body("missing or wrong bearer token")});
            return;
        }
        c.req.method = std::string(head->method);
        c.req.target = std::string(head->target);
        c.req.content_type = media_type(head->headers.find("Content-Type").value_or(""));
        c.body.emplace(*head, lim);
        c.in.erase(0, head->head_bytes);
    }
    auto used = c.body->feed(c.in, c.req.body);
    if (!used) {
        const int status = is(used.error(), wire::http_errc::body_too_large) ? 413 : 400;
        answer(id, {status, error_body(used.error().message())});
        return;
    }
    c.in.clear();
    if (!c.body->done()) {
        return;  // more of the body to come
    }
    c.answered = true;
    [[maybe_unused]] auto r = reactor_.set_interest(c.watch, io::fd_interest::none);
    handler_(c.req, scope_.guard([this, id](const api_response& resp) { answer(id, resp); }));
}

void control_server::answer(std::uint64_t id, const api_response& r) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client& c = *it->second;
    c.answered = true;
    if (r.stream) {
        c.out = fmt::format(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\n\r\n",
            r.status, reason_phrase(r.status), r.content_type);
        c.out += r.body;
        start_stream(id, c, r.stream);
        return;
    }
    c.out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.status, reason_phrase(r.status), r.content_type, r.body.size());
    c.out += r.body;
    write_to(id, c);
}

void control_server::write_to(std::uint64_t id, client& c) {
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            [[maybe_unused]] auto r = reactor_.set_interest(c.watch, io::fd_interest::write);
            return;
        }
        if (n <= 0) {
            break;
        }
        c.sent += static_cast<std::size_t>(n);
    }
    if (c.sent < c.out.size()) {
        drop(id);  // the client went away
        return;
    }
    if (c.streaming) {
        c.out.clear();
        c.sent = 0;
        [[maybe_unused]] auto r = reactor_.set_interest(c.watch, io::fd_interest::read);
        return;
    }
    // Half-close and read until the client closes (bounded by a short timer): closing with
    // unread bytes (the rest of a refused body) would reset the connection and could destroy
    // the answer before the client reads it.
    c.closing = true;
    c.out.clear();
    ::shutdown(c.fd, SHUT_WR);
    scope_.cancel_timer(c.deadline);
    c.deadline = scope_.add_timer(std::chrono::seconds(2), [this, id] { drop(id); });
    [[maybe_unused]] auto r = reactor_.set_interest(c.watch, io::fd_interest::read);
}

// A slow or idle client must not lock others out (slowloris): when every slot is taken, the
// oldest connection that has not yet sent a whole head gives up its slot. A real client sends
// its head at once, so it is never the oldest for long; streams and requests being answered stay.
bool control_server::evict_slowest_head() {
    for (const auto& [id, c] : clients_) {
        if (!c->body && !c->answered) {
            drop(id);
            return true;
        }
    }
    return false;
}

void control_server::drop(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client& c = *it->second;
    scope_.cancel_timer(c.deadline);
    reactor_.unwatch_fd(c.watch);
    ::close(c.fd);
    auto end = std::move(c.end_stream);
    clients_.erase(it);
    if (end) end();
}

}  // namespace minibit::agent
