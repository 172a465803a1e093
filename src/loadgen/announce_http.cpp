// The HTTP announce driver: C connections on one epoll set (level-triggered), one request in
// flight per connection, responses framed by the wire HTTP codec (Content-Length, chunked or
// close-delimited), heads and bodies bounded. A connection is reopened after "Connection: close" or with --http-close.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "announce_driver.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::loadgen {

namespace {

/// Bounds of one tracker response: an 8 KiB head, a 1 MiB body.
constexpr wire::http_limits response_limits{
    .max_head_bytes = 8192, .max_headers = 64, .max_body_bytes = 1U << 20U};
constexpr int max_events = 256;
constexpr int wait_ms = 5;
constexpr auto timeout_scan_interval = std::chrono::milliseconds(20);

struct http_conn {
    int fd = -1;
    bool busy = false;        ///< a request is outstanding
    bool connecting = false;  ///< nonblocking connect not finished
    bool want_out = false;    ///< EPOLLOUT is registered (a send is pending)
    bool reused = false;      ///< the request went out on a connection that served one before
    std::string out;
    std::size_t out_off = 0;
    std::string in;
    announce_clock::time_point sent_at;
    wire::announce_event event = wire::announce_event::none;
};

/// A framed HTTP response: its status, whether the connection closes after it, the payload.
struct framed {
    int status = 0;
    bool close = false;
    std::string body;
};

enum class frame_state { incomplete, done, bad, closed_early };

/// Frames one response from `in` with the wire HTTP codec (Content-Length, chunked or
/// close-delimited bodies); `eof` tells whether the peer closed its side.
frame_state frame(std::string_view in, bool eof, framed& out) {
    const auto head = wire::parse_http_response(in, response_limits);
    if (!head) {
        if (!is(head.error(), wire::http_errc::incomplete)) return frame_state::bad;
        return eof ? frame_state::closed_early : frame_state::incomplete;
    }
    wire::http_body_decoder body(*head, response_limits);
    out.body.clear();
    if (!body.feed(in.substr(head->head_bytes), out.body)) return frame_state::bad;
    if (!body.done()) {
        if (!eof) return frame_state::incomplete;
        if (!body.finish()) return frame_state::closed_early;
    }
    out.status = head->status;
    out.close = head->persist == wire::http_connection::close ||
                head->framing == wire::body_framing::until_close;
    return frame_state::done;
}

class http_driver {
public:
    http_driver(const announce_options& o, announce_report& r)
        : options_(o), report_(r), workload_(o), conns_(o.concurrency) {}
    http_driver(const http_driver&) = delete;
    http_driver& operator=(const http_driver&) = delete;
    ~http_driver() {
        for (auto& c : conns_)
            if (c.fd >= 0) ::close(c.fd);
        if (epoll_ >= 0) ::close(epoll_);
    }

    result<void> run();

private:
    void issue(std::size_t i, announce_clock::time_point now);
    void open(std::size_t i);
    void send_pending(std::size_t i);
    void on_event(std::size_t i, std::uint32_t events);
    void on_readable(std::size_t i);
    void complete(std::size_t i, const framed& f);
    void release(std::size_t i, bool close_it);
    void fail(std::size_t i, announce_error_kind kind, std::string_view reason);
    [[nodiscard]] bool retry_fresh(std::size_t i);
    void close_fd(http_conn& c);
    void set_out(http_conn& c, bool want);
    void check_timeouts(announce_clock::time_point now);

    const announce_options& options_;
    announce_report& report_;
    announce_workload workload_;
    std::vector<http_conn> conns_;
    std::vector<std::size_t> idle_;
    std::size_t in_flight_ = 0;
    int epoll_ = -1;
    announce_clock::time_point last_done_;
    std::array<char, 65536> buf_{};
};

result<void> http_driver::run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return minibit::fail(announce_errc::io, "epoll_create1 failed");
    for (std::size_t i = conns_.size(); i > 0; --i) idle_.push_back(i - 1);
    const run_window w = run_window::from(options_);
    last_done_ = w.start;
    auto last_scan = w.start;
    std::array<epoll_event, max_events> events{};
    for (;;) {
        auto now = announce_clock::now();
        if (w.issuing_over(workload_.issued(), now) && in_flight_ == 0) break;
        if (now >= w.end_by) {
            for (std::size_t i = 0; i < conns_.size(); ++i)
                if (conns_[i].busy) fail(i, announce_error_kind::timeout, {});
            break;
        }
        // At most one pass over the connections per turn: failures that free a connection at
        // once (socket() errors) must not spin here past the deadline.
        for (std::size_t k = conns_.size(); k > 0 && !idle_.empty(); --k) {
            if (!w.may_issue(workload_.issued(), now)) break;
            const std::size_t i = idle_.back();
            idle_.pop_back();
            issue(i, now);
        }
        const int n = epoll_wait(epoll_, events.data(), max_events, wait_ms);
        for (int k = 0; k < n; ++k)
            on_event(static_cast<std::size_t>(events[static_cast<std::size_t>(k)].data.u64),
                     events[static_cast<std::size_t>(k)].events);
        now = announce_clock::now();
        if (now - last_scan >= timeout_scan_interval) {
            check_timeouts(now);
            last_scan = now;
        }
    }
    report_.ended_by = options_.count != 0 && workload_.issued() >= options_.count ? "count"
                                                                                   : "duration";
    report_.seconds = static_cast<double>(micros_between(w.start, last_done_)) / 1e6;
    return {};
}

void http_driver::issue(std::size_t i, announce_clock::time_point now) {
    http_conn& c = conns_[i];
    const planned_announce p = workload_.next();
    ++report_.sent;
    ++in_flight_;
    c.busy = true;
    c.event = p.request.event;
    c.sent_at = now;
    c.in.clear();
    c.out = fmt::format(
        "GET {}?{} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: minibit-loadgen\r\n"
        "{}\r\n",
        options_.tracker.path, wire::build_announce_query(p.request), options_.tracker.host,
        options_.tracker.port,
        options_.reuse == http_reuse::close_each ? "Connection: close\r\n" : "");
    c.out_off = 0;
    c.reused = c.fd >= 0;
    if (c.fd < 0) {
        open(i);
    } else {
        send_pending(i);
    }
}

void http_driver::open(std::size_t i) {
    http_conn& c = conns_[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(i, announce_error_kind::connection_error, "socket failed");
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(options_.tracker.port);
    sa.sin_addr.s_addr = options_.tracker.ipv4_be;
    const int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    if (rc < 0 && errno != EINPROGRESS)
        return fail(i, announce_error_kind::connection_error, std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) < 0)
        return fail(i, announce_error_kind::connection_error, "epoll_ctl failed");
    c.want_out = true;
    c.connecting = true;
}

void http_driver::set_out(http_conn& c, bool want) {
    if (c.want_out == want) return;
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(&c - conns_.data());
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = want;
}

void http_driver::send_pending(std::size_t i) {
    http_conn& c = conns_[i];
    while (c.out_off < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                                 MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return set_out(c, true);
        if (n < 0 && retry_fresh(i)) return;
        if (n < 0) return fail(i, announce_error_kind::connection_error, std::strerror(errno));
        c.out_off += static_cast<std::size_t>(n);
    }
    set_out(c, false);
}

void http_driver::on_event(std::size_t i, std::uint32_t events) {
    http_conn& c = conns_[i];
    if (c.fd < 0) return;
    if (c.connecting) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(i, announce_error_kind::connection_error, std::strerror(err));
        c.connecting = false;
        ++report_.connects;
        return send_pending(i);
    }
    if ((events & EPOLLOUT) != 0 && c.want_out) send_pending(i);
    if (c.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(i);
}

void http_driver::on_readable(std::size_t i) {
    http_conn& c = conns_[i];
    const ssize_t n = ::recv(c.fd, buf_.data(), buf_.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (!c.busy) return close_fd(c);  // the server closed an idle connection, or spoke out of turn
    if (n <= 0 && c.in.empty() && retry_fresh(i)) return;
    if (n < 0) return fail(i, announce_error_kind::connection_error, std::strerror(errno));
    const bool eof = n == 0;
    c.in.append(buf_.data(), static_cast<std::size_t>(n));
    framed f;
    switch (frame(c.in, eof, f)) {
    case frame_state::incomplete: return;
    case frame_state::bad: return fail(i, announce_error_kind::bad_response, "unframed response");
    case frame_state::closed_early:
        return fail(i, announce_error_kind::connection_error, "closed before the answer");
    case frame_state::done: return complete(i, f);
    }
}

void http_driver::complete(std::size_t i, const framed& f) {
    http_conn& c = conns_[i];
    last_done_ = announce_clock::now();
    const bool close_it = f.close || options_.reuse == http_reuse::close_each;
    if (f.status != 200) {
        report_.error(announce_error_kind::bad_response);
        return release(i, true);
    }
    const auto r = wire::parse_announce_response(f.body, wire::http_response_limits{});
    if (r) {
        report_.ok(c.event, micros_between(c.sent_at, last_done_),
                   r->peers4.size() / 6 + r->peers6.size() / 18);
    } else if (is(r.error(), wire::tracker_http_errc::tracker_failure)) {
        report_.error(announce_error_kind::failure, r.error().reason);
    } else {
        report_.error(announce_error_kind::bad_response);
    }
    release(i, close_it);
}

void http_driver::release(std::size_t i, bool close_it) {
    http_conn& c = conns_[i];
    if (close_it) close_fd(c);
    if (!c.busy) return;
    c.busy = false;
    --in_flight_;
    idle_.push_back(i);
}

void http_driver::fail(std::size_t i, announce_error_kind kind, std::string_view reason) {
    http_conn& c = conns_[i];
    if (c.busy) {
        last_done_ = announce_clock::now();
        report_.error(kind, reason);
    }
    release(i, true);
}

/// A kept-alive connection the server closed before our request reached it (opentracker closes
/// after every answer without saying so): resend once on a new connection, as HTTP clients do.
bool http_driver::retry_fresh(std::size_t i) {
    http_conn& c = conns_[i];
    if (!c.reused) return false;
    c.reused = false;
    close_fd(c);
    c.out_off = 0;
    ++report_.stale_retries;
    open(i);
    return true;
}

void http_driver::close_fd(http_conn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.connecting = false;
    c.want_out = false;
}

void http_driver::check_timeouts(announce_clock::time_point now) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
        if (conns_[i].busy && now - conns_[i].sent_at >= options_.timeout)
            fail(i, announce_error_kind::timeout, {});
    }
}

}  // namespace

result<void> run_http_announces(const announce_options& options, announce_report& report) {
    http_driver driver(options, report);
    return driver.run();
}

}  // namespace minibit::loadgen
