// Incremental peer wire decoder: takes bytes as they arrive, split anywhere, and yields typed
// messages validated against the torrent's bounds. Oversized or malformed headers are refused
// as soon as the 4-byte length and the id are in, before the body is buffered. One connection
// owns one decoder (one thread); after an error it stays failed and repeats that error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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

    /// Called for each message by decode(); returning false stops decoding (connection closing).
    using message_fn = std::function<bool(const peer_message&)>;

    /// Decodes the bytes kept from earlier calls followed by `bytes`, calling fn for every
    /// complete message in order. A message wholly inside `bytes` is parsed in place (a PIECE's
    /// data points into `bytes`, valid only during fn); of a message begun earlier only its
    /// missing bytes are copied; the incomplete tail is kept. Returns the (sticky) error.
    [[nodiscard]] result<void> decode(std::span<const std::uint8_t> bytes, const message_fn& fn);

    /// Largest length prefix accepted (16 KiB block message, or a full BITFIELD if larger).
    [[nodiscard]] std::uint32_t max_length() const { return max_length_; }
    /// Bytes received but not yet returned as messages.
    [[nodiscard]] std::size_t buffered() const { return end() - pos_; }
    /// Memory held for a message begun but not finished (capacity): after decode(), at most
    /// that message's size, and at most small_buffer_bytes when nothing is kept.
    [[nodiscard]] std::size_t held_bytes() const { return buf_.capacity(); }

    /// Capacity decode() may keep while no message is pending; larger buffers are freed.
    static constexpr std::size_t small_buffer_bytes = 1024;

private:
    [[nodiscard]] const std::uint8_t* base() const {
        return borrowing_ ? borrowed_.data() : buf_.data();
    }
    [[nodiscard]] std::size_t end() const { return borrowing_ ? borrowed_.size() : buf_.size(); }
    /// Bytes still missing from the first buffered message (at least 1).
    [[nodiscard]] std::size_t bytes_to_complete() const;
    [[nodiscard]] result<std::optional<peer_message>> next_handshake();
    [[nodiscard]] result<void> check_header(std::uint32_t length, std::uint8_t id) const;
    [[nodiscard]] result<peer_message> parse_body(std::uint8_t id,
                                                  std::span<const std::uint8_t> body) const;
    [[nodiscard]] result<block_ref> parse_block(std::span<const std::uint8_t> body,
                                                std::uint32_t data_length) const;
    [[nodiscard]] result<piece_index> parse_index(std::span<const std::uint8_t> body) const;
    [[nodiscard]] std::unexpected<error> remember(std::unexpected<error> e);
    /// Keeps `tail` (an incomplete message) in a buffer sized for its whole message.
    void keep_tail(std::span<const std::uint8_t> tail);

    torrent_bounds bounds_;
    std::uint32_t max_length_ = 0;
    std::vector<std::uint8_t> buf_;
    std::span<const std::uint8_t> borrowed_;  ///< the caller's bytes, during decode() only
    bool borrowing_ = false;                  ///< parsing borrowed_ instead of buf_
    std::size_t pos_ = 0;                     ///< first unparsed byte in buf_ (or borrowed_)
    std::size_t stream_base_ = 0;  ///< stream offset of buf_[0] (or borrowed_[0]), for errors
    bool want_handshake_ = true;
    std::optional<error> failed_;
};

}  // namespace minibit::wire
