// peer_connection, inbound half: decoding the stream and validating each message against the
// protocol state and our torrent. One std::visit hands every message type to its own
// on_message overload, so a message type added to wire::peer_message without a handler here
// does not compile.
#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "minibit/swarm/peer_connection.hpp"
#include "minibit/wire/peer_extension.hpp"

namespace minibit::swarm {
namespace {

/// Views received bytes as the codec's unsigned bytes.
std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) {
    return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

}  // namespace

void peer_connection::on_data(std::span<const std::byte> bytes) {
    if (closing()) {
        return;
    }
    traffic_.last_received = ctx_.reactor.now();
    ctx_.counters.wire_bytes_down += bytes.size();
    // Messages wholly inside this buffer are parsed in place: a block goes from the receive
    // buffer straight to the store, without a copy into the decoder.
    auto decoded = decoder_.decode(as_u8(bytes), [this](const wire::peer_message& m) {
        handle(m);
        return !closing();
    });
    if (!decoded) {
        // MSE/PE (aria2's first try) opens with a Diffie-Hellman key, not "\x13BitTorrent
        // protocol"; refusing it is our policy (no encryption), not the peer breaking rules.
        // A client that insists on encryption cannot connect; aria2 retries in plain text.
        if (phase_ == phase::handshaking &&
            is(decoded.error(), wire::peer_wire_errc::bad_protocol_string) &&
            decoded.error().offset.value_or(1) == 0) {
            close(close_reason::policy, "encrypted (MSE) handshake not supported");
            return;
        }
        close(close_reason::violation, decoded.error().message());
        return;
    }
    if (closing()) {
        return;
    }
    count_received(bytes.size());
    fill_requests();
    serve();
    flush_out();
}

void peer_connection::handle(const wire::peer_message& m) {
    std::visit(
        [this]<class M>(const M& msg) {
            if constexpr (wire::identified_message<M>) {
                constexpr auto id = static_cast<std::size_t>(M::wire_id);
                ++ctx_.counters.messages_received[id];
                if (spdlog::should_log(spdlog::level::trace)) {
                    spdlog::trace("peer {}: received {}", who_.remote.to_string(),
                                  message_name(id));
                }
                if (wire::is_fast_extension(M::wire_id) && !ext_.fast) {
                    close(close_reason::violation,
                          "fast-extension message without BEP 6 negotiated");
                    return;
                }
            }
            on_message(msg);
        },
        m);
}

void peer_connection::on_message(const wire::handshake& h) {
    if (h.hash != ctx_.hash) {
        close(close_reason::violation, "handshake for another info hash");
        return;
    }
    if (!host_.accept_handshake(*this, h.id)) {
        close(close_reason::policy, "refused peer id (ourselves, banned or already connected)");
        return;
    }
    who_.id = h.id;
    ext_.fast = h.fast_extension();
    ext_.extended = h.extension_protocol();
    phase_ = phase::open;
    spdlog::debug("peer {}: handshake (fast {}, extensions {})", who_.remote.to_string(), ext_.fast,
                  ext_.extended);
    send_initial_messages();
}

void peer_connection::send_initial_messages() {
    // The BEP 10 handshake goes first, as libtorrent, Transmission and aria2 send it; BEP 3 /
    // BEP 6's "piece announcement first" counts among the core messages.
    if (ext_.extended) {
        wire::extension_handshake ours;
        ours.v = "MiniBit 0.1";
        ours.reqq = ctx_.options.advertised_reqq;
        if (ctx_.options.listen_port != 0) {
            ours.p = ctx_.options.listen_port;
        }
        const std::string payload = wire::encode_extension_handshake(ours);
        send(wire::extended{
            0, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}});
    }
    const bitfield& have = ctx_.have;
    if (ctx_.options.seeding == seed_policy::origin && have.all()) {
        // An origin shows its pieces one HAVE at a time (origin_plan.hpp); none at first.
        if (ext_.fast) {
            send(wire::have_none{});
        }
    } else if (ext_.fast && have.all()) {
        send(wire::have_all{});
    } else if (ext_.fast && have.none()) {
        send(wire::have_none{});
    } else if (!have.none()) {
        send(wire::have_bitfield{have});
    }
    flush_out();
}

void peer_connection::on_message(const wire::keep_alive&) {
    ++ctx_.counters.keepalives_received;
}

void peer_connection::on_message(const wire::choke&) {
    flags_.peer_choking = true;
    // BEP 3 without BEP 6: a choke discards every pending request. With BEP 6 the peer rejects
    // each one explicitly, and the request timeout covers a peer that does not.
    if (!ext_.fast) {
        drop_requests(requests_.release_all());
    }
}

void peer_connection::on_message(const wire::unchoke&) {
    flags_.peer_choking = false;
}

void peer_connection::on_message(const wire::interested&) {
    if (!std::exchange(flags_.peer_interested, true)) {
        host_.on_interest_changed(*this);
    }
}

void peer_connection::on_message(const wire::not_interested&) {
    if (std::exchange(flags_.peer_interested, false)) {
        host_.on_interest_changed(*this);  // its slot, if it had one, is free now
    }
}

void peer_connection::on_message(const wire::have_bitfield& m) {
    announce_pieces(m.bits);
}

void peer_connection::on_message(const wire::have_all&) {
    announce_pieces(bitfield(ctx_.bounds.piece_count, true));
}

void peer_connection::on_message(const wire::have_none&) {
    announce_pieces(bitfield(ctx_.bounds.piece_count, false));
}

void peer_connection::announce_pieces(bitfield bits) {
    // BEP 3 wants the bitfield first, but aria2 sends a fresh BITFIELD (or HAVE_ALL) instead of
    // many HAVEs later on; like libtorrent we accept it as a replacement of what we knew.
    const bitfield previous = std::exchange(has_, std::move(bits));
    host_.on_bitfield(*this, &previous);
    if (is_seed() && ctx_.have.all()) {
        close(close_reason::policy, "both sides are seeds");
        return;
    }
    update_interest();
}

void peer_connection::on_message(const wire::have& m) {
    if (!has_.set(m.piece)) {
        return;
    }
    host_.on_have(*this, m.piece);
    if (is_seed() && ctx_.have.all()) {
        close(close_reason::policy, "both sides are seeds");
        return;
    }
    if (!flags_.am_interested && !ctx_.have.test(m.piece)) {
        update_interest();
    }
}

void peer_connection::on_message(const wire::request& m) {
    if (!ctx_.have.test(m.block.piece)) {
        close(close_reason::violation, "request for a piece we do not have");
        return;
    }
    if (flags_.am_choking) {
        // A choked peer's requests cost us a reject each (BEP 6) or nothing; a flood of them
        // still ends the connection.
        if (!requests_.count_choked_request(ctx_.options.max_incoming_requests)) {
            close(close_reason::violation, "request flood while choked");
            return;
        }
        if (ext_.fast) {
            send(wire::reject_request{m.block});
        }
        return;
    }
    if (!requests_.queue_incoming(m.block, ctx_.options.max_incoming_requests)) {
        close(close_reason::violation, "request flood");
    }
}

void peer_connection::on_message(const wire::cancel& m) {
    // Already sent, or never asked: harmless.
    if (requests_.cancel_incoming(m.block) && ext_.fast) {
        send(wire::reject_request{m.block});
    }
}

void peer_connection::on_message(const wire::piece_block& m) {
    const wire::block_ref block{m.piece, m.begin, static_cast<std::uint32_t>(m.data.size())};
    const auto now = ctx_.reactor.now();
    if (!requests_.take_arrival(block, now)) {
        close(close_reason::violation, "unsolicited piece");
        return;
    }
    traffic_.down.add(m.data.size(), now);
    ctx_.down.add(m.data.size(), now);
    requests_.set_snubbed(false);
    host_.on_block(*this, block, m.data);
}

void peer_connection::on_message(const wire::reject_request& m) {
    if (requests_.take_rejected(m.block)) {
        host_.on_request_dropped(*this, m.block);
    }
}

// port (DHT), suggest and allowed_fast carry nothing we act on.
void peer_connection::on_message(const wire::port&) {}
void peer_connection::on_message(const wire::suggest&) {}
void peer_connection::on_message(const wire::allowed_fast&) {}

void peer_connection::on_message(const wire::extended& ext) {
    if (!ext_.extended) {
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
        requests_.set_peer_reqq(
            std::clamp<std::uint32_t>(*theirs->reqq, 1, ctx_.options.max_requests));
    }
    if (theirs->v) {
        spdlog::debug("peer {}: client {}", who_.remote.to_string(), *theirs->v);
    }
}

}  // namespace minibit::swarm
