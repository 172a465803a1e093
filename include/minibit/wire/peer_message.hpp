// Peer wire protocol messages (BEP 3, BEP 6 fast extension, BEP 10 extension protocol) as typed
// values, the torrent bounds the decoder checks them against, and encoders that write into a
// caller's buffer. Pure: no I/O, no allocation in the encoders. Value types; any thread.
// A `piece` is encoded as its 13-byte header only, so the block can be sent from storage.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "minibit/core/bitfield.hpp"
#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/core/units.hpp"

namespace minibit::wire {

enum class peer_wire_errc {
    bad_protocol_string = 1,  ///< handshake pstrlen is not 19 or pstr is not "BitTorrent protocol"
    truncated,                ///< fewer bytes than the structure needs
    buffer_too_small,         ///< an encoder's output span cannot hold the message
    message_too_long,         ///< a length prefix above the decoder's bound
    unknown_message_id,       ///< an id this codec does not know
    wrong_payload_length,     ///< a payload length that the message id does not allow
    piece_out_of_range,       ///< piece index >= piece count
    bad_block_length,         ///< request/cancel/reject length is 0 or above 16 KiB
    block_out_of_range,       ///< begin + length runs past the end of the piece
    bad_bitfield,             ///< spare bits set in a BITFIELD
    bad_extension_handshake,  ///< BEP 10 handshake payload is not the expected bencoded dict
};
[[nodiscard]] constexpr std::string_view error_domain(peer_wire_errc) {
    return "peer_wire";
}

/// BEP 3: the handshake is pstrlen, pstr, 8 reserved bytes, info hash, peer id.
inline constexpr std::string_view protocol_string = "BitTorrent protocol";
inline constexpr std::size_t handshake_bytes = 68;
/// A piece message: 4-byte length, id, index, begin; the block follows.
inline constexpr std::size_t piece_header_bytes = 13;
/// Largest length prefix of a block-carrying message: id + index + begin + 16 KiB.
inline constexpr std::uint32_t max_block_message_length = 9 + block_size_bytes;
/// Largest extended payload: BEP 9 metadata pieces put a small bencoded dict before a 16 KiB
/// block, so 512 bytes of slack above the block; anything longer is refused.
inline constexpr std::uint32_t max_extended_payload_bytes = block_size_bytes + 512;

/// The 20-byte peer id from the handshake.
struct peer_id {
    std::array<std::uint8_t, 20> bytes{};
    auto operator<=>(const peer_id&) const = default;
};

/// The BEP 3 message ids plus BEP 6 and BEP 10 ones (each message type below carries its own as
/// `wire_id`).
enum class message_id : std::uint8_t {
    choke = 0,
    unchoke = 1,
    interested = 2,
    not_interested = 3,
    have = 4,
    bitfield = 5,
    request = 6,
    piece = 7,
    cancel = 8,
    port = 9,
    suggest = 0x0d,
    have_all = 0x0e,
    have_none = 0x0f,
    reject = 0x10,
    allowed_fast = 0x11,
    extended = 20,
};

/// What the decoder checks fields against; the codec knows nothing else of the torrent.
struct torrent_bounds {
    std::uint32_t piece_count = 0;
    std::uint32_t piece_length = 0;       ///< bytes in every piece but the last
    std::uint32_t last_piece_length = 0;  ///< bytes in the last piece (1..piece_length)

    /// Size in bytes of piece i (i < piece_count).
    [[nodiscard]] constexpr std::uint32_t piece_size(piece_index i) const {
        return i.get() + 1 == piece_count ? last_piece_length : piece_length;
    }
};

struct handshake {
    std::array<std::uint8_t, 8> reserved{};
    info_hash hash;
    peer_id id;

    /// BEP 6: reserved[7] & 0x04 announces the fast extension.
    [[nodiscard]] bool fast_extension() const { return (reserved[7] & 0x04U) != 0; }
    /// BEP 10: reserved[5] & 0x10 announces the extension protocol.
    [[nodiscard]] bool extension_protocol() const { return (reserved[5] & 0x10U) != 0; }
    /// Sets or clears the BEP 6 bit.
    void set_fast_extension(bool on);
    /// Sets or clears the BEP 10 bit.
    void set_extension_protocol(bool on);
    bool operator==(const handshake&) const = default;
};

struct keep_alive {
    bool operator==(const keep_alive&) const = default;
};
struct choke {
    static constexpr message_id wire_id = message_id::choke;
    bool operator==(const choke&) const = default;
};
struct unchoke {
    static constexpr message_id wire_id = message_id::unchoke;
    bool operator==(const unchoke&) const = default;
};
struct interested {
    static constexpr message_id wire_id = message_id::interested;
    bool operator==(const interested&) const = default;
};
struct not_interested {
    static constexpr message_id wire_id = message_id::not_interested;
    bool operator==(const not_interested&) const = default;
};
struct have_all {
    static constexpr message_id wire_id = message_id::have_all;
    bool operator==(const have_all&) const = default;
};
struct have_none {
    static constexpr message_id wire_id = message_id::have_none;
    bool operator==(const have_none&) const = default;
};
struct have {
    static constexpr message_id wire_id = message_id::have;
    piece_index piece;
    bool operator==(const have&) const = default;
};
struct suggest {
    static constexpr message_id wire_id = message_id::suggest;
    piece_index piece;
    bool operator==(const suggest&) const = default;
};
struct allowed_fast {
    static constexpr message_id wire_id = message_id::allowed_fast;
    piece_index piece;
    bool operator==(const allowed_fast&) const = default;
};
struct port {
    static constexpr message_id wire_id = message_id::port;
    std::uint16_t value = 0;
    bool operator==(const port&) const = default;
};
struct have_bitfield {
    static constexpr message_id wire_id = message_id::bitfield;
    bitfield bits;
    bool operator==(const have_bitfield&) const = default;
};

/// A block address: piece, byte offset in the piece, length in bytes.
struct block_ref {
    piece_index piece;
    std::uint32_t begin = 0;
    std::uint32_t length = 0;
    bool operator==(const block_ref&) const = default;
};
struct request {
    static constexpr message_id wire_id = message_id::request;
    block_ref block;
    bool operator==(const request&) const = default;
};
struct cancel {
    static constexpr message_id wire_id = message_id::cancel;
    block_ref block;
    bool operator==(const cancel&) const = default;
};
struct reject_request {
    static constexpr message_id wire_id = message_id::reject;
    block_ref block;
    bool operator==(const reject_request&) const = default;
};

/// A received or sent block; `data` points into the decoder's buffer (valid until next feed).
struct piece_block {
    static constexpr message_id wire_id = message_id::piece;
    piece_index piece;
    std::uint32_t begin = 0;
    std::span<const std::uint8_t> data;
    /// Equal when the address and the bytes are equal.
    bool operator==(const piece_block& o) const {
        return piece == o.piece && begin == o.begin && std::ranges::equal(data, o.data);
    }
};

/// BEP 10: id 0 is the extension handshake, others are the ids the peer assigned in `m`.
struct extended {
    static constexpr message_id wire_id = message_id::extended;
    std::uint8_t ext_id = 0;
    std::span<const std::uint8_t> payload;
    /// Equal when the id and the bytes are equal.
    bool operator==(const extended& o) const {
        return ext_id == o.ext_id && std::ranges::equal(payload, o.payload);
    }
};

using peer_message = std::variant<handshake, keep_alive, choke, unchoke, interested, not_interested,
                                  have, have_bitfield, request, piece_block, cancel, port, suggest,
                                  have_all, have_none, reject_request, allowed_fast, extended>;

/// A message with a wire id: every message but the handshake and the keep-alive. Each message
/// type names its id as `static constexpr message_id wire_id`.
template <class M>
concept identified_message = requires {
    { M::wire_id } -> std::convertible_to<message_id>;
};

/// BEP 6: suggest, have_all, have_none, reject and allowed_fast are valid only when both sides
/// set the fast-extension bit.
[[nodiscard]] constexpr bool is_fast_extension(message_id id) {
    return id >= message_id::suggest && id <= message_id::allowed_fast;
}

/// The wire id of m; nullopt for a handshake or a keep-alive.
[[nodiscard]] inline std::optional<message_id> id_of(const peer_message& m) {
    return std::visit(
        []<class M>(const M&) -> std::optional<message_id> {
            if constexpr (identified_message<M>) {
                return M::wire_id;
            } else {
                return std::nullopt;
            }
        },
        m);
}

/// Parses a 68-byte handshake from the front of `bytes`.
[[nodiscard]] result<handshake> parse_handshake(std::span<const std::uint8_t> bytes);

/// Bytes encode() writes for m; for piece_block only the 13-byte header.
[[nodiscard]] std::size_t encoded_size(const peer_message& m);

/// Writes m into out and returns the byte count; piece_block writes only its header.
[[nodiscard]] result<std::size_t> encode(const peer_message& m, std::span<std::uint8_t> out);

/// Writes the 13-byte header of a piece message carrying `length` bytes at (piece, begin).
[[nodiscard]] result<std::size_t> encode_piece_header(const block_ref& block,
                                                      std::span<std::uint8_t> out);

}  // namespace minibit::wire
