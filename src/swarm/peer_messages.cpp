// peer_connection, inbound half: decoding the stream, validating each message against the
// protocol state and our torrent, and serving the peer's requests from the piece store.
#include <algorithm>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "minibit/swarm/peer_connection.hpp"
#include "minibit/swarm/torrent.hpp"
#include "message_kind.hpp"
#include "minibit/wire/peer_extension.hpp"

namespace minibit::swarm {
void peer_connection::on_data(std::span<const std::byte> bytes) {
    if (closing_) {
        return;
    }
    last_received_ = owner_.reactor().now();
    owner_.counters().wire_bytes_down += bytes.size();
    // Messages wholly inside this buffer are parsed in place: a block goes from the receive
    // buffer straight to the store, without a copy into the decoder.
    auto decoded = decoder_.decode(detail::as_u8(bytes), [this](const wire::peer_message& m) {
        handle(m);
        return !closing_;
    });
    if (!decoded) {
        // MSE/PE (aria2's first try) opens with a Diffie-Hellman key, not "\x13BitTorrent
        // protocol"; refusing it is our policy (no encryption), not the peer breaking rules.
        // A client that insists on encryption cannot connect; aria2 retries in plain text.
        if (!handshake_done_ && is(decoded.error(), wire::peer_wire_errc::bad_protocol_string) &&
            decoded.error().offset.value_or(1) == 0) {
            close(close_reason::policy, "encrypted (MSE) handshake not supported");
            return;
        }
        close(close_reason::violation, decoded.error().message());
        return;
    }
    if (closing_) {
        return;
    }
    fill_requests();
    serve();
    flush_out();
}

void peer_connection::handle(const wire::peer_message& m) {
    auto& stats = owner_.counters();
    const int kind = detail::kind_of(m);
    if (kind >= 0) {
        ++stats.messages_received[static_cast<std::size_t>(kind)];
        if (spdlog::should_log(spdlog::level::trace)) {
            spdlog::trace("peer {}: received {}", remote_.to_string(),
                          message_name(static_cast<std::size_t>(kind)));
        }
    }
    const bool needs_fast = std::holds_alternative<wire::have_all>(m) ||
                            std::holds_alternative<wire::have_none>(m) ||
                            std::holds_alternative<wire::reject_request>(m) ||
                            std::holds_alternative<wire::suggest>(m) ||
                            std::holds_alternative<wire::allowed_fast>(m);
    if (needs_fast && !fast_) {
        close(close_reason::violation, "fast-extension message without BEP 6 negotiated");
        return;
    }
    if (const auto* h = std::get_if<wire::handshake>(&m)) {
        on_handshake(*h);
    } else if (std::holds_alternative<wire::keep_alive>(m)) {
        ++stats.keepalives_received;
    } else if (std::holds_alternative<wire::choke>(m)) {
        on_peer_choke();
    } else if (std::holds_alternative<wire::unchoke>(m)) {
        peer_choking_ = false;
    } else if (std::holds_alternative<wire::interested>(m)) {
        peer_interested_ = true;
        owner_.on_peer_interested(*this);
    } else if (std::holds_alternative<wire::not_interested>(m)) {
        peer_interested_ = false;
    } else if (const auto* hv = std::get_if<wire::have>(&m)) {
        on_have(hv->piece);
    } else if (const auto* bf = std::get_if<wire::have_bitfield>(&m)) {
        on_bitfield(bf->bits);
    } else if (std::holds_alternative<wire::have_all>(m)) {
        on_bitfield(bitfield(owner_.info().piece_count(), true));
    } else if (std::holds_alternative<wire::have_none>(m)) {
        on_bitfield(bitfield(owner_.info().piece_count(), false));
    } else if (const auto* rq = std::get_if<wire::request>(&m)) {
        on_request(rq->block);
    } else if (const auto* pb = std::get_if<wire::piece_block>(&m)) {
        on_piece(*pb);
    } else if (const auto* cn = std::get_if<wire::cancel>(&m)) {
        on_cancel(cn->block);
    } else if (const auto* rj = std::get_if<wire::reject_request>(&m)) {
        on_reject(rj->block);
    } else if (const auto* ex = std::get_if<wire::extended>(&m)) {
        on_extended(*ex);
    }
    // port (DHT), suggest and allowed_fast carry nothing we act on.
}

void peer_connection::on_handshake(const wire::handshake& h) {
    if (h.hash != owner_.info().hash) {
        close(close_reason::violation, "handshake for another info hash");
        return;
    }
    if (!owner_.accept_handshake(*this, h.id)) {
        close(close_reason::policy, "refused peer id (ourselves, banned or already connected)");
        return;
    }
    peer_id_ = h.id;
    fast_ = h.fast_extension();
    extensions_ = h.extension_protocol();
    handshake_done_ = true;
    spdlog::debug("peer {}: handshake (fast {}, extensions {})", remote_.to_string(), fast_,
                  extensions_);
    send_initial_messages();
}

void peer_connection::send_initial_messages() {
    // The BEP 10 handshake goes first, as libtorrent, Transmission and aria2 send it; BEP 3 /
    // BEP 6's "piece announcement first" counts among the core messages.
    if (extensions_) {
        wire::extension_handshake ours;
        ours.v = "MiniBit 0.1";
        ours.reqq = owner_.options().advertised_reqq;
        if (owner_.options().listen_port != 0) {
            ours.p = owner_.options().listen_port;
        }
        const std::string payload = wire::encode_extension_handshake(ours);
        send(wire::extended{0, {reinterpret_cast<const std::uint8_t*>(payload.data()),
                                payload.size()}});
    }
    const bitfield& have = owner_.have();
    if (fast_ && have.all()) {
        send(wire::have_all{});
    } else if (fast_ && have.none()) {
        send(wire::have_none{});
    } else if (!have.none()) {
        send(wire::have_bitfield{have});
    }
    flush_out();
}

void peer_connection::on_bitfield(const bitfield& bits) {
    // BEP 3 wants the bitfield first, but aria2 sends a fresh BITFIELD (or HAVE_ALL) instead of
    // many HAVEs later on; like libtorrent we accept it as a replacement of what we knew.
    if (pieces_announced_) {
        owner_.forget_peer_pieces(*this);
    }
    pieces_announced_ = true;
    has_ = bits;
    owner_.on_peer_bitfield(*this, has_);
    if (is_seed() && owner_.complete()) {
        close(close_reason::policy, "both sides are seeds");
        return;
    }
    update_interest();
}

void peer_connection::on_have(piece_index piece) {
    pieces_announced_ = true;
    if (!has_.set(piece)) {
        return;
    }
    owner_.on_peer_have(piece);
    if (is_seed() && owner_.complete()) {
        close(close_reason::policy, "both sides are seeds");
        return;
    }
    if (!am_interested_ && !owner_.have().test(piece)) {
        update_interest();
    }
}

void peer_connection::on_peer_choke() {
    peer_choking_ = true;
    // BEP 3 without BEP 6: a choke discards every pending request. With BEP 6 the peer rejects
    // each one explicitly, and the request timeout covers a peer that does not.
    if (!fast_) {
        while (!outstanding_.empty()) {
            drop_outstanding(outstanding_.begin());
        }
    }
}

void peer_connection::on_request(const wire::block_ref& block) {
    if (!owner_.have().test(block.piece)) {
        close(close_reason::violation, "request for a piece we do not have");
        return;
    }
    if (am_choking_) {
        // A choked peer's requests cost us a reject each (BEP 6) or nothing; a flood of them
        // still ends the connection.
        if (++requests_while_choked_ > owner_.options().max_incoming_requests) {
            close(close_reason::violation, "request flood while choked");
            return;
        }
        if (fast_) {
            send(wire::reject_request{block});
        }
        return;
    }
    if (incoming_.size() >= owner_.options().max_incoming_requests) {
        close(close_reason::violation, "request flood");
        return;
    }
    incoming_.push_back(block);
}

void peer_connection::on_cancel(const wire::block_ref& block) {
    const auto it = std::find_if(incoming_.begin(), incoming_.end(),
                                 [&](const wire::block_ref& b) { return detail::same_block(b, block); });
    if (it == incoming_.end()) {
        return;  // already sent, or never asked: harmless
    }
    incoming_.erase(it);
    if (fast_) {
        send(wire::reject_request{block});
    }
}

void peer_connection::on_piece(const wire::piece_block& pb) {
    const wire::block_ref block{pb.piece, pb.begin, static_cast<std::uint32_t>(pb.data.size())};
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return detail::same_block(r.block, block); });
    if (it != outstanding_.end()) {
        outstanding_.erase(it);
    } else if (!take_dropped(block)) {
        close(close_reason::violation, "unsolicited piece");
        return;
    }
    const auto now = owner_.reactor().now();
    down_.add(pb.data.size(), now);
    owner_.on_bytes_down(pb.data.size());
    last_block_ = now;
    snubbed_ = false;
    owner_.on_block(*this, block, pb.data);
}

void peer_connection::on_reject(const wire::block_ref& block) {
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return detail::same_block(r.block, block); });
    if (it != outstanding_.end()) {
        drop_outstanding(it);
    } else {
        (void)take_dropped(block);
    }
}

void peer_connection::on_extended(const wire::extended& ext) {
    if (!extensions_) {
        close(close_reason::violation, "extended message without BEP 10 negotiated");
        return;
    }
    if (ext.ext_id != 0) {
        return;  // we advertise no extension messages; ignore the rest politely
    }
    auto theirs = wire::parse_extension_handshake(ext.payload);
    if (!theirs) {
        close(close_reason::violation, theirs.error().message());
        return;
    }
    if (theirs->reqq) {
        peer_reqq_ = std::clamp<std::uint32_t>(*theirs->reqq, 1, owner_.options().max_requests);
    }
    if (theirs->v) {
        spdlog::debug("peer {}: client {}", remote_.to_string(), *theirs->v);
    }
}

// ---- serving the peer's requests ----------------------------------------------------------

void peer_connection::serve() {
    if (serving_ || closing_) {
        return;
    }
    serving_ = true;
    while (!incoming_.empty() && !am_choking_ && !closing_) {
        auto queued = owner_.reactor().bytes_queued(conn_.id());
        if (!queued || *queued + out_.size() >= owner_.options().max_send_queue_bytes) {
            break;
        }
        const wire::block_ref block = incoming_.front();
        incoming_.pop_front();
        send_block(block);
    }
    serving_ = false;
}

void peer_connection::send_block(const wire::block_ref& block) {
    std::array<std::uint8_t, wire::piece_header_bytes> header{};
    if (!wire::encode_piece_header(block, header)) {
        return;
    }
    const std::size_t at = out_.size();
    const auto* hb = reinterpret_cast<const std::byte*>(header.data());
    out_.insert(out_.end(), hb, hb + header.size());
    auto spans = owner_.store().block_spans(block.piece, block.begin, block.length);
    if (!spans && !is(spans.error(), storage::storage_errc::fault)) {
        // pread back end: copy the block into an owned buffer instead.
        out_.resize(at + header.size() + block.length);
        auto read = owner_.store().read_block(block.piece, block.begin,
                                              {out_.data() + at + header.size(), block.length});
        if (!read) {
            spans = std::unexpected(std::move(read.error()));
        }
    }
    if (!spans && !is(spans.error(), storage::storage_errc::unsupported)) {
        // The data is gone from disk (file truncated) or unreadable: not a byte of this
        // message may go out, and the torrent decides what we still serve.
        out_.resize(at);
        owner_.on_serve_failed(*this, spans.error());
        return;
    }
    auto& stats = owner_.counters();
    ++stats.messages_sent[static_cast<std::size_t>(wire::message_id::piece)];
    stats.payload_bytes_up += block.length;
    up_.add(block.length, owner_.reactor().now());
    owner_.on_bytes_up(block.length);
    if (!spans) {
        flush_out();
        return;
    }
    flush_out();
    stats.wire_bytes_up += block.length;
    std::weak_ptr<peer_connection> weak = weak_from_this();
    const auto parts = spans->view();
    for (std::size_t i = 0; i < parts.size() && !closing_; ++i) {
        // Each callback keeps the store (and so the mapping) alive until the kernel let go.
        io::release_fn done = [keep = owner_.store_handle()](const std::optional<error>&) {};
        if (i + 1 == parts.size()) {
            done = [weak, keep = owner_.store_handle()](const std::optional<error>&) {
                if (auto self = weak.lock()) {
                    self->serve();
                    self->flush_out();
                }
            };
        }
        if (auto sent = owner_.reactor().send_borrowed(conn_.id(), parts[i], std::move(done));
            !sent) {
            close(close_reason::network, sent.error().message());
        }
    }
}

}  // namespace minibit::swarm
