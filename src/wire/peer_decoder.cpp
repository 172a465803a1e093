#include "minibit/wire/peer_decoder.hpp"

#include <algorithm>

namespace minibit::wire {
namespace {

std::uint32_t get_u32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) |
           (std::uint32_t{p[2]} << 8U) | std::uint32_t{p[3]};
}

/// Exact length prefix of a fixed-size message, or 0 for variable-size ones and unknown ids.
std::uint32_t fixed_length(std::uint8_t id) {
    switch (static_cast<message_id>(id)) {
    case message_id::choke:
    case message_id::unchoke:
    case message_id::interested:
    case message_id::not_interested:
    case message_id::have_all:
    case message_id::have_none: return 1;
    case message_id::have:
    case message_id::suggest:
    case message_id::allowed_fast: return 5;
    case message_id::request:
    case message_id::cancel:
    case message_id::reject: return 13;
    case message_id::port: return 3;
    case message_id::bitfield:
    case message_id::piece:
    case message_id::extended: return 0;
    }
    return 0;
}

bool known_id(std::uint8_t id) {
    return id <= static_cast<std::uint8_t>(message_id::port) ||
           (id >= static_cast<std::uint8_t>(message_id::suggest) &&
            id <= static_cast<std::uint8_t>(message_id::allowed_fast)) ||
           id == static_cast<std::uint8_t>(message_id::extended);
}

/// Wraps a parsed field into message M, or passes the error on.
template <class M, class V>
result<peer_message> wrap(result<V> v) {
    if (!v) {
        return std::unexpected(v.error());
    }
    return peer_message{M{*v}};
}

}  // namespace

peer_decoder::peer_decoder(torrent_bounds bounds, decoder_start start)
    : bounds_(bounds),
      max_length_(std::max(max_block_message_length,
                           static_cast<std::uint32_t>(1 + (bounds.piece_count + 7U) / 8U))),
      want_handshake_(start == decoder_start::handshake) {
    max_length_ = std::max(max_length_, 2 + max_extended_payload_bytes);
}

void peer_decoder::feed(std::span<const std::uint8_t> bytes) {
    if (pos_ > 0) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
        stream_base_ += pos_;
        pos_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

std::size_t peer_decoder::bytes_to_complete() const {
    const std::size_t have = buffered();
    if (want_handshake_) {
        return have < handshake_bytes ? handshake_bytes - have : 1;
    }
    if (have < 4) {
        return 4 - have;
    }
    const std::size_t total = 4 + std::size_t{get_u32(base() + pos_)};
    // An oversized prefix fails in next() with the first byte; never copy up to it.
    return get_u32(base() + pos_) > max_length_ || total <= have ? 1 : total - have;
}

result<void> peer_decoder::decode(std::span<const std::uint8_t> bytes, const message_fn& fn) {
    // A message begun in an earlier call: copy just its missing bytes, then decode it.
    while (buffered() > 0 && !bytes.empty()) {
        const std::size_t missing = bytes_to_complete();
        const std::size_t take = std::min(missing, bytes.size());
        if (pos_ == 0 && buf_.capacity() < buf_.size() + missing) {
            buf_.reserve(buf_.size() + missing);  // exactly the message, no doubling
        }
        feed(bytes.first(take));
        bytes = bytes.subspan(take);
        for (;;) {
            auto m = next();
            if (!m) {
                return std::unexpected(m.error());
            }
            if (!*m) {
                break;
            }
            if (!fn(**m)) {
                return {};
            }
        }
    }
    if (bytes.empty()) {
        if (buffered() == 0) {
            stream_base_ += buf_.size();
            keep_tail({});  // the message finished with this call: free a large buffer
        }
        return {};
    }
    // Nothing buffered: parse the caller's bytes where they are.
    stream_base_ += buf_.size();
    buf_.clear();
    pos_ = 0;
    borrowed_ = bytes;
    borrowing_ = true;
    result<void> out;
    for (;;) {
        auto m = next();
        if (!m) {
            out = std::unexpected(m.error());
            break;
        }
        if (!*m || !fn(**m)) {
            break;
        }
    }
    // Keep the incomplete tail (the caller reuses its buffer).
    const std::size_t used = pos_;
    borrowing_ = false;
    borrowed_ = {};
    stream_base_ += used;
    keep_tail(bytes.subspan(used));
    return out;
}

void peer_decoder::keep_tail(std::span<const std::uint8_t> tail) {
    // A connection holds no more than its unfinished message: a buffer left at its largest
    // (a 16 KiB block) on every connection was ~250 KiB per peer in a 1000-peer swarm.
    buf_.assign(tail.begin(), tail.end());
    pos_ = 0;
    const std::size_t need = tail.empty() ? 0 : tail.size() + bytes_to_complete();
    if (buf_.capacity() > std::max(need, small_buffer_bytes)) {
        std::vector<std::uint8_t> fitted;
        fitted.reserve(need);
        fitted.assign(tail.begin(), tail.end());
        buf_.swap(fitted);
    } else if (buf_.capacity() < need) {
        buf_.reserve(need);
    }
}

std::unexpected<error> peer_decoder::remember(std::unexpected<error> e) {
    failed_ = e.error();
    return e;
}

result<std::optional<peer_message>> peer_decoder::next_handshake() {
    const std::span<const std::uint8_t> avail(base() + pos_, end() - pos_);
    if (avail.empty()) {
        return std::nullopt;
    }
    auto h = parse_handshake(avail);
    if (!h) {
        if (is(h.error(), peer_wire_errc::truncated)) {
            return std::nullopt;
        }
        h.error().offset = stream_base_ + pos_ + h.error().offset.value_or(0);
        return remember(std::unexpected(h.error()));
    }
    pos_ += handshake_bytes;
    want_handshake_ = false;
    return peer_message{*h};
}

result<std::optional<peer_message>> peer_decoder::next() {
    if (failed_) {
        return std::unexpected(*failed_);
    }
    if (want_handshake_) {
        return next_handshake();
    }
    const std::size_t avail = end() - pos_;
    if (avail < 4) {
        return std::nullopt;
    }
    const std::uint32_t length = get_u32(base() + pos_);
    if (length == 0) {
        pos_ += 4;
        return peer_message{keep_alive{}};
    }
    if (length > max_length_) {
        return remember(fail(peer_wire_errc::message_too_long, "length prefix above the bound",
                             stream_base_ + pos_));
    }
    if (avail < 5) {
        return std::nullopt;
    }
    const std::uint8_t id = base()[pos_ + 4];
    if (auto ok = check_header(length, id); !ok) {
        return remember(std::unexpected(ok.error()));
    }
    if (avail < 4 + std::size_t{length}) {
        return std::nullopt;
    }
    auto m = parse_body(id, std::span<const std::uint8_t>(base() + pos_ + 5, length - 1));
    if (!m) {
        return remember(std::unexpected(m.error()));
    }
    pos_ += 4 + std::size_t{length};
    return std::optional<peer_message>(std::move(*m));
}

result<void> peer_decoder::check_header(std::uint32_t length, std::uint8_t id) const {
    const std::size_t at = stream_base_ + pos_;
    if (!known_id(id)) {
        return fail(peer_wire_errc::unknown_message_id, "unknown message id", at + 4);
    }
    bool ok = false;
    switch (static_cast<message_id>(id)) {
    case message_id::bitfield: ok = length == 1 + (bounds_.piece_count + 7U) / 8U; break;
    case message_id::piece: ok = length > 9 && length <= max_block_message_length; break;
    case message_id::extended: ok = length >= 2 && length <= 2 + max_extended_payload_bytes; break;
    default: ok = length == fixed_length(id); break;
    }
    if (!ok) {
        return fail(peer_wire_errc::wrong_payload_length, "payload length wrong for message id",
                    at);
    }
    return {};
}

result<piece_index> peer_decoder::parse_index(std::span<const std::uint8_t> body) const {
    const piece_index i{get_u32(body.data())};
    if (i.get() >= bounds_.piece_count) {
        return fail(peer_wire_errc::piece_out_of_range, "piece index out of range",
                    stream_base_ + pos_ + 5);
    }
    return i;
}

result<block_ref> peer_decoder::parse_block(std::span<const std::uint8_t> body,
                                            std::uint32_t data_length) const {
    auto i = parse_index(body);
    if (!i) {
        return std::unexpected(i.error());
    }
    const std::size_t at = stream_base_ + pos_;
    if (data_length == 0 || data_length > block_size_bytes) {
        return fail(peer_wire_errc::bad_block_length, "block length not in 1..16384", at + 13);
    }
    const block_ref b{*i, get_u32(body.data() + 4), data_length};
    if (std::uint64_t{b.begin} + b.length > bounds_.piece_size(b.piece)) {
        return fail(peer_wire_errc::block_out_of_range, "block runs past the piece", at + 9);
    }
    return b;
}

result<peer_message> peer_decoder::parse_body(std::uint8_t id,
                                              std::span<const std::uint8_t> body) const {
    switch (static_cast<message_id>(id)) {
    case message_id::choke: return choke{};
    case message_id::unchoke: return unchoke{};
    case message_id::interested: return interested{};
    case message_id::not_interested: return not_interested{};
    case message_id::have_all: return have_all{};
    case message_id::have_none: return have_none{};
    case message_id::have: return wrap<have>(parse_index(body));
    case message_id::suggest: return wrap<suggest>(parse_index(body));
    case message_id::allowed_fast: return wrap<allowed_fast>(parse_index(body));
    case message_id::request: return wrap<request>(parse_block(body, get_u32(body.data() + 8)));
    case message_id::cancel: return wrap<cancel>(parse_block(body, get_u32(body.data() + 8)));
    case message_id::reject:
        return wrap<reject_request>(parse_block(body, get_u32(body.data() + 8)));
    case message_id::port: return port{static_cast<std::uint16_t>((body[0] << 8U) | body[1])};
    case message_id::piece: {
        auto b = parse_block(body, static_cast<std::uint32_t>(body.size() - 8));
        if (!b) {
            return std::unexpected(b.error());
        }
        return piece_block{b->piece, b->begin, body.subspan(8)};
    }
    case message_id::bitfield: {
        auto bits = bitfield::from_wire(body, bounds_.piece_count);
        if (!bits) {
            return fail(peer_wire_errc::bad_bitfield, "bitfield has spare bits set",
                        stream_base_ + pos_ + 5);
        }
        return have_bitfield{std::move(*bits)};
    }
    case message_id::extended: return extended{body[0], body.subspan(1)};
    }
    return fail(peer_wire_errc::unknown_message_id, "unknown message id", stream_base_ + pos_ + 4);
}

}  // namespace minibit::wire
