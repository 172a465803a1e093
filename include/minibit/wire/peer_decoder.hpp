// Incremental peer wire decoder: takes bytes as they arrive, split anywhere, and yields typed
// messages validated against the torrent's bounds. Oversized or malformed headers are refused
// as soon as the 4-byte length and the id are in, before the body is buffered. One connection
// owns one decoder (one thread); after an error it stays failed and repeats that error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::wire {

/// Whether the stream starts with a BEP 3 handshake or directly with messages.
enum class decoder_start { handshake, messages };

class peer_decoder {
public:
    /// A decoder for one connection's inbound stream.
    explicit peer_decoder(torrent_bounds bounds, decoder_start start = decoder_start::handshake);

    /// Appends received bytes; invalidates spans returned by earlier next() calls.
    void feed(std::span<const std::uint8_t> bytes);

    /// The next complete message, nullopt when more bytes are needed, or the (sticky) error.
    [[nodiscard]] result<std::optional<peer_message>> next();

    /// Largest length prefix accepted (16 KiB block message, or a full BITFIELD if larger).
    [[nodiscard]] std::uint32_t max_length() const { return max_length_; }
    /// Bytes received but not yet returned as messages.
    [[nodiscard]] std::size_t buffered() const { return buf_.size() - pos_; }

private:
    [[nodiscard]] result<std::optional<peer_message>> next_handshake();
    [[nodiscard]] result<void> check_header(std::uint32_t length, std::uint8_t id) const;
    [[nodiscard]] result<peer_message> parse_body(std::uint8_t id,
                                                  std::span<const std::uint8_t> body) const;
    [[nodiscard]] result<block_ref> parse_block(std::span<const std::uint8_t> body,
                                                std::uint32_t data_length) const;
    [[nodiscard]] result<piece_index> parse_index(std::span<const std::uint8_t> body) const;
    [[nodiscard]] std::unexpected<error> remember(std::unexpected<error> e);

    torrent_bounds bounds_;
    std::uint32_t max_length_ = 0;
    std::vector<std::uint8_t> buf_;
    std::size_t pos_ = 0;          ///< first unparsed byte in buf_
    std::size_t stream_base_ = 0;  ///< stream offset of buf_[0], for error offsets
    bool want_handshake_ = true;
    std::optional<error> failed_;
};

}  // namespace minibit::wire
