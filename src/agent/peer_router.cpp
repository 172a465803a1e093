#include "peer_router.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/agent/agent.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::agent {
namespace {

using namespace std::chrono_literals;

/// pstrlen, "BitTorrent protocol", 8 reserved bytes, then the info hash: the bytes the router
/// needs before it knows the torrent.
constexpr std::size_t routing_bytes = 1 + 19 + 8 + 20;
constexpr std::string_view protocol_name =
    "\x13"
    "BitTorrent protocol";
/// A connection that has not named its torrent by then is closed.
constexpr auto routing_timeout = 10s;
/// Connections waiting for their handshake at once; more are closed on accept.
constexpr std::size_t max_pending = 512;
/// Binding a port still held by an agent that just exited: tries and pause between them.
constexpr int bind_retries = 30;
constexpr auto bind_retry_pause = 100ms;

}  // namespace

result<std::unique_ptr<peer_router>> peer_router::open(io::reactor& reactor,
                                                       const std::string& addr, lookup_fn lookup) {
    auto where = io::address::parse(addr);
    if (!where) {
        return fail(agent_errc::bad_request,
                    fmt::format("bad listen address '{}': {}", addr, where.error().message()));
    }
    std::unique_ptr<peer_router> r(new peer_router(reactor, std::move(lookup)));
    auto accept = r->scope_.guard(
        [p = r.get()](io::connection conn, const io::address& peer) { p->on_accept(conn, peer); });
    auto listener = reactor.listen(*where, {}, accept);
    // A previous agent's io_uring releases its sockets shortly after it exited: retry a
    // moment before giving up (start-up only, before the loop runs).
    for (int attempt = 0;
         !listener && listener.error().code == EADDRINUSE && attempt < bind_retries; ++attempt) {
        std::this_thread::sleep_for(bind_retry_pause);
        listener = reactor.listen(*where, {}, accept);
    }
    if (!listener) {
        return fail(agent_errc::bad_request,
                    fmt::format("cannot listen on {}: {}", addr, listener.error().message()));
    }
    r->listener_ = *listener;
    auto bound = reactor.local_address(*listener);
    r->port_ = bound ? bound->port() : where->port();
    return r;
}

peer_router::~peer_router() {
    reactor_.close_listener(listener_);
    for (auto& [id, p] : pending_) {
        reactor_.close(id);
    }
}

void peer_router::on_accept(io::connection conn, const io::address& peer) {
    if (pending_.size() >= max_pending || (budget_ && budget_->full())) {
        if (budget_ && budget_->full()) budget_->count_refused();
        ++refused_;
        reactor_.close(conn.id());
        return;
    }
    const io::conn_id id = conn.id();
    auto& p = pending_[id];
    p.conn = conn;
    p.peer = peer;
    p.timer = scope_.add_timer(routing_timeout, [this, id] { refuse(id); });
    auto started = reactor_.start(
        id, {scope_.guard([this, id](std::span<const std::byte> d) { on_data(id, d); }),
             scope_.guard([this, id](const std::optional<error>&) {
                 if (auto it = pending_.find(id); it != pending_.end()) {
                     scope_.cancel_timer(it->second.timer);
                     pending_.erase(it);
                 }
             })});
    if (!started) {
        refuse(id);
    }
}

void peer_router::on_data(io::conn_id id, std::span<const std::byte> data) {
    auto it = pending_.find(id);
    if (it == pending_.end()) {
        return;
    }
    pending& p = it->second;
    p.bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
    const std::size_t known = std::min(p.bytes.size(), protocol_name.size());
    if (p.bytes.compare(0, known, protocol_name, 0, known) != 0) {
        refuse(id);  // not a BitTorrent handshake (encrypted or another protocol)
        return;
    }
    if (p.bytes.size() < routing_bytes) {
        return;
    }
    std::array<std::uint8_t, 20> raw{};
    std::copy_n(reinterpret_cast<const std::uint8_t*>(p.bytes.data()) + 28, raw.size(),
                raw.begin());
    const auto hash = info_hash::from_bytes(raw);
    swarm::session* s = hash ? lookup_(*hash) : nullptr;
    if (s == nullptr) {
        spdlog::debug("peer {}: no torrent {}", p.peer.to_string(), hash ? hash->hex() : "?");
        refuse(id);
        return;
    }
    // Take the entry out first: the session installs its own callbacks (replacing ours).
    pending taken = std::move(p);
    scope_.cancel_timer(taken.timer);
    pending_.erase(it);
    ++routed_;
    s->adopt(taken.conn, taken.peer,
             std::as_bytes(std::span<const char>(taken.bytes.data(), taken.bytes.size())));
}

void peer_router::refuse(io::conn_id id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) {
        return;
    }
    scope_.cancel_timer(it->second.timer);
    pending_.erase(it);
    ++refused_;
    reactor_.close(id);
}

}  // namespace minibit::agent
