#include "minibit/wire/peer_message.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace minibit::wire {
namespace {

void put_u32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24U);
    p[1] = static_cast<std::uint8_t>(v >> 16U);
    p[2] = static_cast<std::uint8_t>(v >> 8U);
    p[3] = static_cast<std::uint8_t>(v);
}

/// Writes a length prefix and id; `payload` is the byte count after the id.
std::uint8_t* put_header(std::uint8_t* p, message_id id, std::size_t payload) {
    put_u32(p, static_cast<std::uint32_t>(payload + 1));
    p[4] = static_cast<std::uint8_t>(id);
    return p + 5;
}

void put_block(std::uint8_t* p, message_id id, const block_ref& b) {
    std::uint8_t* q = put_header(p, id, 12);
    put_u32(q, b.piece.get());
    put_u32(q + 4, b.begin);
    put_u32(q + 8, b.length);
}

void put_index(std::uint8_t* p, message_id id, piece_index i) {
    put_u32(put_header(p, id, 4), i.get());
}

struct size_visitor {
    std::size_t operator()(const handshake&) const { return handshake_bytes; }
    std::size_t operator()(const keep_alive&) const { return 4; }
    std::size_t operator()(const have_bitfield& m) const { return 5 + m.bits.bytes().size(); }
    std::size_t operator()(const piece_block&) const { return piece_header_bytes; }
    std::size_t operator()(const extended& m) const { return 6 + m.payload.size(); }
    std::size_t operator()(const port&) const { return 7; }
    std::size_t operator()(const request&) const { return 17; }
    std::size_t operator()(const cancel&) const { return 17; }
    std::size_t operator()(const reject_request&) const { return 17; }
    std::size_t operator()(const have&) const { return 9; }
    std::size_t operator()(const suggest&) const { return 9; }
    std::size_t operator()(const allowed_fast&) const { return 9; }
    std::size_t operator()(const auto&) const { return 5; }  // id-only messages
};

struct write_visitor {
    std::uint8_t* p;
    void operator()(const handshake& m) const {
        p[0] = static_cast<std::uint8_t>(protocol_string.size());
        std::memcpy(p + 1, protocol_string.data(), protocol_string.size());
        std::memcpy(p + 20, m.reserved.data(), 8);
        std::memcpy(p + 28, m.hash.bytes.data(), 20);
        std::memcpy(p + 48, m.id.bytes.data(), 20);
    }
    void operator()(const keep_alive&) const { put_u32(p, 0); }
    void operator()(const choke&) const { put_header(p, message_id::choke, 0); }
    void operator()(const unchoke&) const { put_header(p, message_id::unchoke, 0); }
    void operator()(const interested&) const { put_header(p, message_id::interested, 0); }
    void operator()(const not_interested&) const { put_header(p, message_id::not_interested, 0); }
    void operator()(const have_all&) const { put_header(p, message_id::have_all, 0); }
    void operator()(const have_none&) const { put_header(p, message_id::have_none, 0); }
    void operator()(const have& m) const { put_index(p, message_id::have, m.piece); }
    void operator()(const suggest& m) const { put_index(p, message_id::suggest, m.piece); }
    void operator()(const allowed_fast& m) const {
        put_index(p, message_id::allowed_fast, m.piece);
    }
    void operator()(const request& m) const { put_block(p, message_id::request, m.block); }
    void operator()(const cancel& m) const { put_block(p, message_id::cancel, m.block); }
    void operator()(const reject_request& m) const { put_block(p, message_id::reject, m.block); }
    void operator()(const port& m) const {
        std::uint8_t* q = put_header(p, message_id::port, 2);
        q[0] = static_cast<std::uint8_t>(m.value >> 8U);
        q[1] = static_cast<std::uint8_t>(m.value);
    }
    void operator()(const have_bitfield& m) const {
        const auto bytes = m.bits.bytes();
        std::uint8_t* q = put_header(p, message_id::bitfield, bytes.size());
        std::copy(bytes.begin(), bytes.end(), q);
    }
    void operator()(const piece_block& m) const {
        std::uint8_t* q = put_header(p, message_id::piece, 8 + m.data.size());
        put_u32(q, m.piece.get());
        put_u32(q + 4, m.begin);
    }
    void operator()(const extended& m) const {
        std::uint8_t* q = put_header(p, message_id::extended, 1 + m.payload.size());
        q[0] = m.ext_id;
        std::copy(m.payload.begin(), m.payload.end(), q + 1);
    }
};

}  // namespace

void handshake::set_fast_extension(bool on) {
    reserved[7] = static_cast<std::uint8_t>(on ? (reserved[7] | 0x04U) : (reserved[7] & ~0x04U));
}

void handshake::set_extension_protocol(bool on) {
    reserved[5] = static_cast<std::uint8_t>(on ? (reserved[5] | 0x10U) : (reserved[5] & ~0x10U));
}

result<handshake> parse_handshake(std::span<const std::uint8_t> bytes) {
    if (!bytes.empty() && bytes[0] != protocol_string.size()) {
        return fail(peer_wire_errc::bad_protocol_string, "pstrlen is not 19", 0);
    }
    if (bytes.size() < handshake_bytes) {
        return fail(peer_wire_errc::truncated, "handshake needs 68 bytes", bytes.size());
    }
    if (!std::equal(protocol_string.begin(), protocol_string.end(), bytes.begin() + 1,
                    [](char c, std::uint8_t b) { return static_cast<std::uint8_t>(c) == b; })) {
        return fail(peer_wire_errc::bad_protocol_string, "pstr is not BitTorrent protocol", 1);
    }
    handshake h;
    std::copy_n(bytes.begin() + 20, 8, h.reserved.begin());
    std::copy_n(bytes.begin() + 28, 20, h.hash.bytes.begin());
    std::copy_n(bytes.begin() + 48, 20, h.id.bytes.begin());
    return h;
}

std::size_t encoded_size(const peer_message& m) {
    return std::visit(size_visitor{}, m);
}

result<std::size_t> encode(const peer_message& m, std::span<std::uint8_t> out) {
    const std::size_t n = encoded_size(m);
    if (out.size() < n) {
        return fail(peer_wire_errc::buffer_too_small, "output buffer too small", out.size());
    }
    const auto* ext = std::get_if<extended>(&m);
    if (ext != nullptr && ext->payload.size() > max_extended_payload_bytes) {
        return fail(peer_wire_errc::message_too_long, "extended payload too long");
    }
    std::visit(write_visitor{out.data()}, m);
    return n;
}

result<std::size_t> encode_piece_header(const block_ref& block, std::span<std::uint8_t> out) {
    if (out.size() < piece_header_bytes) {
        return fail(peer_wire_errc::buffer_too_small, "output buffer too small", out.size());
    }
    put_u32(out.data(), 9 + block.length);
    out[4] = static_cast<std::uint8_t>(message_id::piece);
    put_u32(out.data() + 5, block.piece.get());
    put_u32(out.data() + 9, block.begin);
    return piece_header_bytes;
}

}  // namespace minibit::wire
