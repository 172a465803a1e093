#include "http_front.hpp"

#include <fmt/format.h>

namespace minibit::tracker {
namespace {

std::string_view status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 507: return "Insufficient Storage";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
    }
}

// After an error answer, bytes still arriving are read and dropped for this long, so the
// client is not reset before it reads the answer (a close with unread data sends RST).
constexpr std::chrono::seconds discard_linger{2};

}  // namespace

http_front::http_front(io::reactor& r, tracker_service& service, const http_front_config& config)
    : r_(r), service_(service), config_(config) {}

std::chrono::seconds http_front::now_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(r_.now().time_since_epoch());
}

result<io::address> http_front::listen(const io::address& addr) {
    io::listen_options opts;
    opts.reuse = io::reuse_port::yes;
    auto id = r_.listen(addr, opts,
                        [this](io::connection c, const io::address& peer) { on_accept(c, peer); });
    if (!id) return std::unexpected(std::move(id.error()));
    listener_ = *id;
    return r_.local_address(*id);
}

void http_front::on_accept(io::connection c, const io::address& peer) {
    const std::uint64_t id = c.id().get();
    if (conns_.size() >= config_.max_connections) {
        service_.stats().count(error_kind::connection_limit);
        r_.close(c.id(), io::close_mode::abort);
        return;
    }
    conn& st = conns_[id];
    service_.stats().connections(+1);
    st.peer = peer;
    // The first request must be complete within request_timeout of the accept, so a client
    // cannot hold a slot by connecting and then waiting before its first byte.
    st.deadline = time_point::clock::now() + config_.request_timeout;
    auto started = r_.start(c.id(),
                            io::conn_handlers{
                                [this, id](std::span<const std::byte> data) { on_data(id, data); },
                                [this, id](const std::optional<error>&) { forget(id); },
                            });
    if (!started) {
        forget(id);
        r_.close(c.id());
    }
}

void http_front::forget(std::uint64_t id) {
    if (conns_.erase(id) != 0) service_.stats().connections(-1);
}

void http_front::on_data(std::uint64_t id, std::span<const std::byte> data) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) return;
    conn& c = it->second;
    if (c.st != state::reading) return;  // discarding or closing: drop the bytes
    if (c.idle) {
        c.idle = false;
        c.deadline = time_point::clock::now() + config_.request_timeout;
    }
    c.buf.append(reinterpret_cast<const char*>(data.data()), data.size());
    serve(id, c);
}

void http_front::serve(std::uint64_t id, conn& c) {
    while (c.st == state::reading && !c.buf.empty()) {
        if (api_ != nullptr) {
            auto taken = api_->take(c.buf, config_.limits);
            if (taken.what == rollout_outcome::kind::incomplete) return;
            if (taken.what == rollout_outcome::kind::reply) {
                const auto& a = taken.answer;
                if (taken.persist == wire::http_connection::close && a.reply.status >= 400) {
                    // A body we will not read may still be arriving: linger like reject().
                    send_reply(id, a.reply, wire::http_connection::close, a.headers);
                    c.buf.clear();
                    c.st = state::discarding;
                    c.deadline = time_point::clock::now() + discard_linger;
                    return;
                }
                if (!finish(id, c, a.reply, taken.persist, taken.consumed, a.headers)) return;
                continue;
            }
        }
        const auto head = parse_tracker_request(c.buf, config_.limits);
        if (!head) {
            if (is(head.error(), wire::http_errc::incomplete)) return;
            reject(id, c, head.error());
            return;
        }
        const http_reply reply = service_.handle_http(head->target, c.peer, now_seconds());
        if (!finish(id, c, reply, head->persist, head->head_bytes)) return;
    }
}

bool http_front::finish(std::uint64_t id, conn& c, const http_reply& reply,
                        wire::http_connection persist, std::size_t consumed,
                        std::string_view headers) {
    send_reply(id, reply, persist, headers);
    if (persist == wire::http_connection::close) {
        c.st = state::closing;
        r_.close(io::conn_id{id}, io::close_mode::after_flush);
        return false;
    }
    c.buf.erase(0, consumed);
    c.idle = c.buf.empty();
    c.deadline = time_point::clock::now() +
                 (c.idle ? config_.idle_timeout : config_.request_timeout);
    return true;
}

void http_front::reject(std::uint64_t id, conn& c, const error& e) {
    const bool too_large = is(e, wire::http_errc::too_large) ||
                           is(e, wire::http_errc::too_many_headers);
    service_.stats().count(too_large ? error_kind::too_large : error_kind::bad_request);
    http_reply reply{too_large ? 431 : 400, "text/plain",
                     wire::encode_failure_response(e.message())};
    send_reply(id, reply, wire::http_connection::close);
    c.buf.clear();
    c.buf.shrink_to_fit();
    c.st = state::discarding;
    c.deadline = time_point::clock::now() + discard_linger;
}

void http_front::send_reply(std::uint64_t id, const http_reply& reply,
                            wire::http_connection persist, std::string_view headers) {
    const std::string head = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: {}\r\n\r\n",
        reply.status, status_text(reply.status), reply.content_type, reply.body.size(), headers,
        persist == wire::http_connection::keep_alive ? "keep-alive" : "close");
    std::vector<std::byte> bytes(head.size() + reply.body.size());
    std::memcpy(bytes.data(), head.data(), head.size());
    std::memcpy(bytes.data() + head.size(), reply.body.data(), reply.body.size());
    (void)r_.send(io::conn_id{id}, std::move(bytes));  // a failed send surfaces as on_close
}

void http_front::sweep() {
    const auto now = r_.now();
    std::vector<std::uint64_t> expired;
    for (auto& [id, c] : conns_) {
        if (c.st != state::closing && now >= c.deadline) expired.push_back(id);
    }
    for (const std::uint64_t id : expired) {
        conn& c = conns_[id];
        if (c.st == state::reading) {
            // Idle keep-alive connections close quietly; a request not complete in time
            // (none at all since the accept, or a half-sent one) is a slow client.
            if (!c.idle) service_.stats().count(error_kind::timeout);
            c.st = state::closing;
            r_.close(io::conn_id{id}, io::close_mode::abort);
        } else {
            c.st = state::closing;
            r_.close(io::conn_id{id}, io::close_mode::after_flush);
        }
    }
}

void http_front::shutdown() {
    if (listener_) r_.close_listener(*listener_);
    listener_.reset();
    for (auto& [id, c] : conns_) {
        if (c.st != state::closing) {
            c.st = state::closing;
            r_.close(io::conn_id{id}, io::close_mode::after_flush);
        }
    }
}

}  // namespace minibit::tracker
