// The one HTTP/1.x codec (RFC 9112) of MiniBit: request heads, response heads and body framing
// (Content-Length, chunked, close-delimited), strict and bounded by explicit limits. Errors carry
// a code, a reason and the byte offset where the input went wrong. Heads are views into the
// caller's buffer; http_body_decoder is a small incremental state machine. No I/O; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::wire {

enum class http_errc {
    incomplete = 1,         ///< no blank line yet: wait for more bytes (offset = bytes seen)
    too_large,              ///< the head does not fit in max_head_bytes
    too_many_headers,       ///< more header lines than max_headers
    bad_start_line,         ///< not "METHOD SP target SP version" / "version SP 3DIGIT SP reason"
    bad_version,            ///< a version other than HTTP/1.0 or HTTP/1.1
    bad_line_ending,        ///< a bare LF (or a CR not followed by LF)
    bad_header,             ///< bad name, space before ':', obs-fold, control byte in a value
    bad_content_length,     ///< not a decimal number, overflowing, or differing duplicates
    conflicting_framing,    ///< both Content-Length and Transfer-Encoding (request smuggling)
    bad_transfer_encoding,  ///< a coding other than a single "chunked"
    body_too_large,         ///< more body bytes than max_body_bytes
    bad_chunk,              ///< a malformed chunk size line, chunk end or trailer
    truncated_body,         ///< the stream ended before the body did
};
[[nodiscard]] constexpr std::string_view error_domain(http_errc) {
    return "http";
}

/// Bounds for one message; every parse and decode step honours them.
struct http_limits {
    std::size_t max_head_bytes = 8192;         ///< start line, headers and blank line
    std::size_t max_headers = 64;              ///< header lines
    std::uint64_t max_body_bytes = 1U << 20U;  ///< payload bytes (decoded, for chunked)
    std::size_t max_chunk_size_digits = 16;    ///< hex digits of one chunk size (16 = 64 bits)
};

/// HTTP/1.0 or HTTP/1.1.
enum class http_version : std::uint8_t { http_1_0, http_1_1 };

/// Whether the connection stays open after this message (RFC 9112 section 9.3).
enum class http_connection : bool { close = false, keep_alive = true };

/// How the body after a head is delimited (RFC 9112 section 6.3).
enum class body_framing : std::uint8_t {
    none,            ///< no body (a request without length, 1xx/204/304 answers)
    content_length,  ///< exactly content_length bytes
    chunked,         ///< Transfer-Encoding: chunked
    until_close,     ///< a response without length: everything up to the end of the stream
};

/// One header line: name and value (optional whitespace trimmed), views into the head.
struct http_header {
    std::string_view name;
    std::string_view value;
};

/// The header lines of a validated head, in order; iterating does not allocate.
class http_headers {
public:
    /// Forward iterator over the lines of the block.
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = http_header;
        using difference_type = std::ptrdiff_t;
        using pointer = const http_header*;
        using reference = const http_header&;
        iterator() = default;
        explicit iterator(std::string_view rest);
        reference operator*() const { return current_; }
        pointer operator->() const { return &current_; }
        iterator& operator++();
        iterator operator++(int);
        bool operator==(const iterator& o) const { return rest_.data() == o.rest_.data(); }

    private:
        void load();
        std::string_view rest_;  ///< from the current line to the end of the block
        http_header current_;
    };

    http_headers() = default;
    /// Wraps validated "name: value\r\n" lines (the parser builds these; no checks here).
    explicit http_headers(std::string_view block) : block_(block) {}
    /// The first header line.
    [[nodiscard]] iterator begin() const { return iterator(block_); }
    /// Past the last header line.
    [[nodiscard]] iterator end() const { return iterator(block_.substr(block_.size())); }
    /// The value of the first header with this name (ASCII case-insensitive), if any.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const;
    /// The raw header lines, each ending in CRLF.
    [[nodiscard]] std::string_view block() const { return block_; }

private:
    std::string_view block_;
};

/// The framing part every head has: version, headers, persistence and body length.
struct http_message_head {
    http_version version = http_version::http_1_1;
    http_headers headers;
    http_connection persist = http_connection::keep_alive;
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;  ///< when framing is content_length
    std::size_t head_bytes = 0;        ///< bytes of the head, blank line included
};

/// A request head (RFC 9112 section 3).
struct http_request_head : http_message_head {
    std::string_view method;
    std::string_view target;
};

/// A response head (RFC 9112 section 4).
struct http_response_head : http_message_head {
    int status = 0;
    std::string_view reason;
};

/// Parses the request head at the start of `buffer`; http_errc::incomplete asks for more bytes.
[[nodiscard]] result<http_request_head> parse_http_request(std::string_view buffer,
                                                           const http_limits& limits);
/// Parses the response head at the start of `buffer` (as an answer to a method other than
/// HEAD); http_errc::incomplete asks for more bytes.
[[nodiscard]] result<http_response_head> parse_http_response(std::string_view buffer,
                                                             const http_limits& limits);
/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
[[nodiscard]] bool http_has_token(std::string_view list, std::string_view token);

/// Decodes one message body as it arrives, by its framing: copies Content-Length and
/// close-delimited bodies, decodes chunked ones (RFC 9112 section 7.1; extensions and trailers
/// are checked and dropped) with a bounded state machine. Error offsets count from the body's
/// first byte.
class http_body_decoder {
public:
    /// A decoder for the body a head announced.
    http_body_decoder(const http_message_head& head, const http_limits& limits);
    /// A decoder for a given framing (content_length bytes when that is the framing).
    http_body_decoder(body_framing framing, std::uint64_t content_length,
                      const http_limits& limits);

    /// Consumes body bytes from the start of `in`, appending the payload to `out`; returns the
    /// bytes consumed, fewer than in.size() only when the body ended (the rest is the next
    /// message). An error is final: later calls return it again.
    [[nodiscard]] result<std::size_t> feed(std::string_view in, std::string& out);
    /// Call at end of stream: ok when the body is complete (a close-delimited one ends here).
    [[nodiscard]] result<void> finish();
    /// True once the whole body has been consumed.
    [[nodiscard]] bool done() const { return state_ == state::done; }
    /// Payload bytes produced so far.
    [[nodiscard]] std::uint64_t payload_bytes() const { return payload_; }

private:
    enum class state : std::uint8_t {
        fixed,
        until_close,
        size,
        extension,
        size_lf,
        data,
        data_cr,
        data_lf,
        trailer_start,
        trailer,
        trailer_lf,
        final_lf,
        done,
        failed,
    };
    [[nodiscard]] result<std::size_t> feed_framed(std::string_view in, std::string& out);
    [[nodiscard]] result<std::size_t> feed_chunked(std::string_view in, std::string& out);
    [[nodiscard]] result<void> step(char c);
    [[nodiscard]] result<void> step_size(char c);
    [[nodiscard]] result<void> step_meta(char c);

    http_limits limits_;
    state state_ = state::done;
    std::uint64_t remaining_ = 0;  ///< bytes left of a fixed body or of the current chunk
    std::uint64_t payload_ = 0;
    std::uint64_t position_ = 0;  ///< body bytes consumed so far (error offsets)
    std::size_t digits_ = 0;      ///< hex digits of the current chunk size
    std::size_t meta_bytes_ = 0;  ///< extension and trailer bytes, bounded by max_head_bytes
    error failure_;               ///< the error every call returns once one happened
};

}  // namespace minibit::wire
