#include "minibit/swarm/peer_connection.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "minibit/swarm/peer_policy.hpp"
#include "minibit/swarm/torrent.hpp"
#include "message_kind.hpp"
#include "minibit/wire/peer_extension.hpp"

namespace minibit::swarm {
namespace {

/// Released requests remembered so a late block is still welcome (bounded memory).
constexpr std::size_t max_dropped_blocks = 1024;

}  // namespace

peer_connection::peer_connection(torrent& owner, io::connection conn, io::address remote,
                                 peer_slot slot, peer_direction direction)
    : owner_(owner),
      conn_(conn),
      remote_(std::move(remote)),
      slot_(slot),
      direction_(direction),
      decoder_(owner.bounds(), wire::decoder_start::handshake),
      has_(owner.info().piece_count()) {
    const auto now = owner_.reactor().now();
    last_received_ = now;
    last_sent_ = now;
    last_block_ = now;
    connected_at_ = now;
}

void peer_connection::start() {
    std::weak_ptr<peer_connection> weak = weak_from_this();
    io::conn_handlers handlers{
        [weak](std::span<const std::byte> bytes) {
            if (auto self = weak.lock()) self->on_data(bytes);
        },
        [weak](const std::optional<error>& err) {
            if (auto self = weak.lock()) self->on_closed(err);
        }};
    if (auto started = owner_.reactor().start(conn_.id(), std::move(handlers)); !started) {
        spdlog::debug("peer {}: cannot start: {}", remote_.to_string(), started.error().message());
        closing_ = true;
        owner_.reactor().close(conn_.id());
        owner_.reactor().post([weak] {
            if (auto self = weak.lock()) self->on_closed(std::nullopt);
        });
        return;
    }
    wire::handshake h;
    h.hash = owner_.info().hash;
    h.id = owner_.local_id();
    h.set_fast_extension(true);
    h.set_extension_protocol(true);
    send(h);
    flush_out();
}

void peer_connection::close(close_reason kind, std::string_view why) {
    if (closing_) {
        return;
    }
    closing_ = true;
    if (kind == close_reason::violation) {
        ++owner_.counters().protocol_violations;
        owner_.counters().last_violation = std::string(why);
        spdlog::warn("peer {}: closing: {}", remote_.to_string(), why);
    } else {
        spdlog::info("peer {}: closing: {}", remote_.to_string(), why);
    }
    owner_.reactor().close(conn_.id(), kind == close_reason::violation
                                           ? io::close_mode::abort
                                           : io::close_mode::after_flush);
}

void peer_connection::on_closed(const std::optional<error>& err) {
    if (gone_) {
        return;
    }
    gone_ = true;
    if (!closing_) {
        spdlog::info("peer {}: disconnected: {}", remote_.to_string(),
                     err ? err->message() : std::string("end of stream"));
    }
    closing_ = true;
    owner_.on_peer_closed(*this);
}

std::vector<wire::block_ref> peer_connection::outstanding() const {
    std::vector<wire::block_ref> out;
    out.reserve(outstanding_.size());
    for (const auto& r : outstanding_) {
        out.push_back(r.block);
    }
    return out;
}

// ---- sending ---------------------------------------------------------------------------

void peer_connection::send(const wire::peer_message& m) {
    const std::size_t size = wire::encoded_size(m);
    const std::size_t at = out_.size();
    out_.resize(at + size);
    auto written = wire::encode(m, {reinterpret_cast<std::uint8_t*>(out_.data() + at), size});
    if (!written) {
        out_.resize(at);
        spdlog::error("peer {}: cannot encode: {}", remote_.to_string(), written.error().message());
        return;
    }
    out_.resize(at + *written);
    auto& stats = owner_.counters();
    const int kind = detail::kind_of(m);
    if (kind >= 0) {
        ++stats.messages_sent[static_cast<std::size_t>(kind)];
    } else if (std::holds_alternative<wire::keep_alive>(m)) {
        ++stats.keepalives_sent;
    }
}

void peer_connection::flush_out() {
    if (out_.empty() || closing_) {
        out_.clear();
        return;
    }
    owner_.counters().wire_bytes_up += out_.size();
    last_sent_ = owner_.reactor().now();
    auto sent = owner_.reactor().send(conn_.id(), std::move(out_));
    out_ = {};
    if (!sent) {
        close(close_reason::network, sent.error().message());
    }
}

void peer_connection::send_have(piece_index piece) {
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
    forget_request(block);
    if (!ready()) {
        return;
    }
    send(wire::cancel{block});
    flush_out();
}

void peer_connection::forget_request(const wire::block_ref& block) {
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return detail::same_block(r.block, block); });
    if (it == outstanding_.end()) {
        return;
    }
    outstanding_.erase(it);
    dropped_.push_back(block);
    if (dropped_.size() > max_dropped_blocks) {
        dropped_.pop_front();
    }
}

void peer_connection::set_choking(bool choke) {
    if (!ready() || choke == am_choking_) {
        return;
    }
    am_choking_ = choke;
    if (choke) {
        send(wire::choke{});
        // BEP 6: with the fast extension every request gets a piece or a reject.
        if (fast_) {
            for (const auto& b : incoming_) {
                send(wire::reject_request{b});
            }
        }
        incoming_.clear();
    } else {
        requests_while_choked_ = 0;
        send(wire::unchoke{});
    }
    flush_out();
}

void peer_connection::update_interest() {
    if (!ready()) {
        return;
    }
    bool want = false;
    if (!owner_.complete()) {
        const auto theirs = has_.bytes();
        const auto ours = owner_.have().bytes();
        for (std::size_t i = 0; i < theirs.size() && i < ours.size() && !want; ++i) {
            want = (theirs[i] & static_cast<std::uint8_t>(~ours[i])) != 0;
        }
    }
    if (want == am_interested_) {
        return;
    }
    am_interested_ = want;
    if (want) {
        send(wire::interested{});
    } else {
        send(wire::not_interested{});
    }
    flush_out();
}

// ---- requests we make --------------------------------------------------------------------

std::uint32_t peer_connection::pipeline_target(clock::time_point now) const {
    return swarm::pipeline_target({down_.rate(now), down_.total() > 0, snubbed_, peer_reqq_},
                                  owner_.options());
}

void peer_connection::fill_requests() {
    if (!ready() || peer_choking_ || !am_interested_) {
        return;
    }
    const auto now = owner_.reactor().now();
    const std::uint32_t target = pipeline_target(now);
    if (outstanding_.size() >= target) {
        return;
    }
    for (const auto& block : owner_.request_blocks(*this, target - outstanding_.size())) {
        outstanding_.push_back({block, now});
        send(wire::request{block});
    }
    flush_out();
}

void peer_connection::drop_outstanding(std::vector<pending_request>::iterator it) {
    const wire::block_ref block = it->block;
    outstanding_.erase(it);
    owner_.on_request_dropped(*this, block);
    dropped_.push_back(block);
    if (dropped_.size() > max_dropped_blocks) {
        dropped_.pop_front();
    }
}

bool peer_connection::take_dropped(const wire::block_ref& block) {
    const auto it = std::find_if(dropped_.begin(), dropped_.end(),
                                 [&](const wire::block_ref& b) { return detail::same_block(b, block); });
    if (it == dropped_.end()) {
        return false;
    }
    dropped_.erase(it);
    return true;
}

void peer_connection::expire_requests(clock::time_point now) {
    if (outstanding_.empty() || now - outstanding_.front().sent < owner_.options().request_timeout) {
        return;
    }
    // The oldest request is overdue: the peer stalled. Give all its blocks to other peers now
    // and keep only a trickle of requests to it until it delivers again.
    const std::size_t count = outstanding_.size();
    owner_.counters().requests_timed_out += count;
    while (!outstanding_.empty()) {
        drop_outstanding(outstanding_.begin());
    }
    if (!snubbed_) {
        spdlog::info("peer {}: snubbed ({} requests timed out)", remote_.to_string(), count);
    }
    snubbed_ = true;
}

// ---- housekeeping ----------------------------------------------------------------------

void peer_connection::on_tick(clock::time_point now) {
    if (closing_) {
        return;
    }
    const auto& opt = owner_.options();
    if (now - last_received_ > opt.idle_timeout) {
        close(close_reason::policy, "idle for too long");
        return;
    }
    if (!handshake_done_) {
        if (now - connected_at_ > opt.handshake_timeout) {
            close(close_reason::policy, "no handshake in time");
        }
        return;
    }
    expire_requests(now);
    if (now - last_sent_ >= opt.keepalive_interval) {
        send(wire::keep_alive{});
    }
    fill_requests();
    serve();
    flush_out();
}

}  // namespace minibit::swarm
