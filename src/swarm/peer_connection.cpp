// peer_connection, outbound half: start and close, the messages we send (batched until
// flush_out()), our requests to the peer and the periodic housekeeping.
#include "minibit/swarm/peer_connection.hpp"

#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>

#include "minibit/core/assert.hpp"
#include "minibit/io/error.hpp"
#include "minibit/storage/piece_store.hpp"

namespace minibit::swarm {

peer_connection::peer_connection(peer_host& host, const peer_context& context, io::connection conn,
                                 io::address remote, peer_slot slot, peer_direction direction)
    : host_(host),
      ctx_(context),
      conn_(conn),
      who_{remote, slot, direction, std::nullopt, context.reactor.now()},
      decoder_(context.bounds, wire::decoder_start::handshake),
      has_(context.bounds.piece_count) {
    traffic_.last_received = who_.connected_at;
    traffic_.last_sent = who_.connected_at;
}

void peer_connection::start(std::span<const std::byte> already_received) {
    MINIBIT_ASSERT(owner_.current(), "peer_connection used off its reactor thread");
    std::weak_ptr<peer_connection> weak = weak_from_this();
    io::conn_handlers handlers{[weak](std::span<const std::byte> bytes) {
                                   if (auto self = weak.lock()) self->on_data(bytes);
                               },
                               [weak](const std::optional<error>& err) {
                                   if (auto self = weak.lock()) self->on_closed(err);
                               }};
    if (auto started = ctx_.reactor.start(conn_.id(), std::move(handlers)); !started) {
        spdlog::debug("peer {}: cannot start: {}", who_.remote.to_string(),
                      started.error().message());
        phase_ = phase::closing;
        ctx_.reactor.close(conn_.id());
        ctx_.reactor.post([weak] {
            if (auto self = weak.lock()) self->on_closed(std::nullopt);
        });
        return;
    }
    wire::handshake h;
    h.hash = ctx_.hash;
    h.id = ctx_.local_id;
    h.set_fast_extension(true);
    h.set_extension_protocol(true);
    send(h);
    flush_out();
    if (!already_received.empty()) {
        on_data(already_received);
    }
}

void peer_connection::close(close_reason kind, std::string_view why) {
    MINIBIT_ASSERT(owner_.current(), "peer_connection used off its reactor thread");
    if (closing()) {
        return;
    }
    phase_ = phase::closing;
    if (kind == close_reason::violation) {
        ++ctx_.counters.protocol_violations;
        ctx_.counters.last_violation = std::string(why);
        spdlog::warn("peer {}: closing: {}", who_.remote.to_string(), why);
    } else {
        spdlog::info("peer {}: closing: {}", who_.remote.to_string(), why);
    }
    ctx_.reactor.close(conn_.id(), kind == close_reason::violation ? io::close_mode::abort
                                                                   : io::close_mode::after_flush);
}

void peer_connection::on_closed(const std::optional<error>& err) {
    if (phase_ == phase::gone) {
        return;
    }
    if (!closing()) {
        spdlog::info("peer {}: disconnected: {}", who_.remote.to_string(),
                     err ? err->message() : std::string("end of stream"));
    }
    phase_ = phase::gone;
    if (err && err->domain == io::error_domain(io::io_errc{}) && err->code == EFAULT) {
        // A send straight from the mapped file found pages that are gone: the file was cut
        // under us. That is the serve failure block_spans reports when it sees the cut first
        // (its view of the size may be up to 100 ms old), so the host checks what is on disk.
        const auto cut = ctx_.store ? ctx_.store->truncated_file() : std::nullopt;
        host_.on_serve_failed(*this, cut ? *cut : *err);
    }
    host_.on_closed(*this);
}

// ---- sending ---------------------------------------------------------------------------

void peer_connection::send(const wire::peer_message& m) {
    const std::size_t size = wire::encoded_size(m);
    const std::size_t at = out_.size();
    out_.resize(at + size);
    auto written = wire::encode(m, {reinterpret_cast<std::uint8_t*>(out_.data() + at), size});
    if (!written) {
        out_.resize(at);
        spdlog::error("peer {}: cannot encode: {}", who_.remote.to_string(),
                      written.error().message());
        return;
    }
    out_.resize(at + *written);
    if (const auto id = wire::id_of(m)) {
        ++ctx_.counters.messages_sent[static_cast<std::size_t>(*id)];
    } else if (std::holds_alternative<wire::keep_alive>(m)) {
        ++ctx_.counters.keepalives_sent;
    }
}

void peer_connection::flush_out() {
    if (out_.empty() || closing()) {
        out_.clear();
        return;
    }
    ctx_.counters.wire_bytes_up += out_.size();
    traffic_.last_sent = ctx_.reactor.now();
    auto sent = ctx_.reactor.send(conn_.id(), std::move(out_));
    out_ = {};
    if (!sent) {
        close(close_reason::network, sent.error().message());
    }
}

void peer_connection::send_have(piece_index piece) {
    MINIBIT_ASSERT(owner_.current(), "peer_connection used off its reactor thread");
    // A peer that already has the piece learns nothing from our HAVE (BEP 3 leaves it to the
    // client; libtorrent calls these redundant haves); skipping them cuts a 10-peer swarm's
    // messages sharply, since most pieces reach most peers from several sides.
    if (!ready() || (piece.get() < has_.size() && has_.test(piece))) {
        return;
    }
    send(wire::have{piece});
    flush_out();
}

void peer_connection::send_cancel(const wire::block_ref& block) {
    requests_.release(block);
    if (!ready()) {
        return;
    }
    send(wire::cancel{block});
    flush_out();
}

void peer_connection::set_choking(bool choke) {
    MINIBIT_ASSERT(owner_.current(), "peer_connection used off its reactor thread");
    if (!ready() || choke == flags_.am_choking) {
        return;
    }
    flags_.am_choking = choke;
    if (choke) {
        send(wire::choke{});
        // BEP 6: with the fast extension every request gets a piece or a reject.
        const auto queued = requests_.take_incoming();
        if (ext_.fast) {
            for (const auto& b : queued) {
                send(wire::reject_request{b});
            }
        }
    } else {
        requests_.unchoked();
        send(wire::unchoke{});
    }
    flush_out();
}

void peer_connection::update_interest() {
    if (!ready()) {
        return;
    }
    bool want = false;
    if (!ctx_.have.all()) {
        const auto theirs = has_.bytes();
        const auto ours = ctx_.have.bytes();
        for (std::size_t i = 0; i < theirs.size() && i < ours.size() && !want; ++i) {
            want = (theirs[i] & static_cast<std::uint8_t>(~ours[i])) != 0;
        }
    }
    if (want == flags_.am_interested) {
        return;
    }
    flags_.am_interested = want;
    if (want) {
        send(wire::interested{});
    } else {
        send(wire::not_interested{});
    }
    flush_out();
}

// ---- requests we make --------------------------------------------------------------------

void peer_connection::fill_requests() {
    if (!ready() || flags_.peer_choking || !flags_.am_interested) {
        return;
    }
    const auto now = ctx_.reactor.now();
    const std::uint32_t target = requests_.target(traffic_.down.rate(now),
                                                  traffic_.down.total() > 0, ctx_.options);
    if (requests_.outstanding() >= target) {
        return;
    }
    const std::vector<wire::block_ref> avoid = requests_.avoided(now);
    for (const auto& block : host_.next_requests(*this, target - requests_.outstanding(), avoid)) {
        requests_.sent(block, now);
        send(wire::request{block});
    }
    flush_out();
}

std::optional<std::chrono::microseconds> peer_connection::round_trip() const {
    if (conn_.owner() != nullptr) {
        if (auto rtt = conn_.owner()->round_trip(conn_.id()); rtt && rtt->count() > 0) {
            return *rtt;
        }
    }
    if (requests_.round_trips().known()) {
        return requests_.round_trips().minimum();
    }
    return std::nullopt;
}

void peer_connection::drop_requests(const std::vector<wire::block_ref>& blocks) {
    for (const auto& block : blocks) {
        host_.on_request_dropped(*this, block);
    }
}

void peer_connection::expire_requests(clock::time_point now) {
    const auto timeout = requests_.timeout(ctx_.options);
    if (!requests_.overdue(now, timeout)) {
        // Serving, maybe slowly: its requests stay (no snub), but one it skipped for long is
        // asked of others (it serves in order, so that one will not come).
        const auto skipped = requests_.expire_older(now, skipped_after_timeouts * timeout,
                                                    avoid_after_timeout * timeout);
        ctx_.counters.requests_timed_out += skipped.size();
        drop_requests(skipped);
        return;
    }
    // No block for a whole timeout: the peer stalled. Give all its blocks to other peers now
    // and keep only a trickle of requests to it until it delivers again. Those blocks are
    // not asked of it again for a while: a peer that never serves some blocks (it lost
    // them, or it is hostile) would otherwise get them back as its trickle, time out again,
    // and never be asked for the blocks it does serve.
    const auto dropped = requests_.expire(now, avoid_after_timeout * timeout);
    ctx_.counters.requests_timed_out += dropped.size();
    drop_requests(dropped);
    if (!requests_.snubbed()) {
        spdlog::info("peer {}: snubbed ({} requests timed out)", who_.remote.to_string(),
                     dropped.size());
    }
    requests_.set_snubbed(true);
}

// ---- housekeeping ----------------------------------------------------------------------

void peer_connection::on_tick(clock::time_point now) {
    MINIBIT_ASSERT(owner_.current(), "peer_connection used off its reactor thread");
    if (closing()) {
        return;
    }
    const auto& opt = ctx_.options;
    if (now - traffic_.last_received > opt.idle_timeout) {
        close(close_reason::policy, "idle for too long");
        return;
    }
    if (phase_ == phase::handshaking) {
        if (now - who_.connected_at > opt.handshake_timeout) {
            close(close_reason::policy, "no handshake in time");
        }
        return;
    }
    expire_requests(now);
    if (now - traffic_.last_sent >= opt.keepalive_interval) {
        send(wire::keep_alive{});
    }
    fill_requests();
    serve();
    flush_out();
}

}  // namespace minibit::swarm
