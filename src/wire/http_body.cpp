// HTTP/1.x message bodies: Content-Length and close-delimited bodies are copied in bulk;
// chunked ones (RFC 9112 section 7.1) go through a byte-at-a-time state machine for the size
// lines, extensions and trailers and a bulk copy for chunk data. Every step is bounded.
#include <algorithm>

#include "minibit/core/hex.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::wire {
namespace {

/// A byte allowed in a chunk extension or trailer line (field-value bytes).
bool meta_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u != 0x7f) || c == '\t';
}

}  // namespace

http_body_decoder::http_body_decoder(const http_message_head& head, const http_limits& limits)
    : http_body_decoder(head.framing, head.content_length, limits) {}

http_body_decoder::http_body_decoder(body_framing framing, std::uint64_t content_length,
                                     const http_limits& limits)
    : limits_(limits) {
    // More than 16 hex digits cannot be held in 64 bits: the limit never goes above that.
    limits_.max_chunk_size_digits = std::min<std::size_t>(limits_.max_chunk_size_digits, 16);
    switch (framing) {
    case body_framing::none: state_ = state::done; break;
    case body_framing::content_length:
        remaining_ = content_length;
        state_ = content_length == 0 ? state::done : state::fixed;
        break;
    case body_framing::chunked: state_ = state::size; break;
    case body_framing::until_close: state_ = state::until_close; break;
    }
}

result<std::size_t> http_body_decoder::feed(std::string_view in, std::string& out) {
    auto r = feed_framed(in, out);
    if (!r) {
        state_ = state::failed;
        failure_ = r.error();
    }
    return r;
}

result<std::size_t> http_body_decoder::feed_framed(std::string_view in, std::string& out) {
    switch (state_) {
    case state::failed: return std::unexpected(failure_);
    case state::done: return 0;
    case state::fixed: {
        if (payload_ + remaining_ > limits_.max_body_bytes) {
            return fail(http_errc::body_too_large, "body too large", 0);
        }
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        out.append(in.substr(0, n));
        remaining_ -= n;
        payload_ += n;
        position_ += n;
        if (remaining_ == 0) state_ = state::done;
        return n;
    }
    case state::until_close:
        if (in.size() > limits_.max_body_bytes - payload_) {
            return fail(http_errc::body_too_large, "body too large",
                        position_ + (limits_.max_body_bytes - payload_));
        }
        out.append(in);
        payload_ += in.size();
        position_ += in.size();
        return in.size();
    default: return feed_chunked(in, out);
    }
}

result<std::size_t> http_body_decoder::feed_chunked(std::string_view in, std::string& out) {
    std::size_t i = 0;
    while (i < in.size() && state_ != state::done) {
        if (state_ == state::data) {
            const auto n = static_cast<std::size_t>(
                std::min<std::uint64_t>(remaining_, in.size() - i));
            out.append(in.substr(i, n));
            i += n;
            remaining_ -= n;
            payload_ += n;
            position_ += n;
            if (remaining_ == 0) state_ = state::data_cr;
            continue;
        }
        if (auto r = step(in[i]); !r) return std::unexpected(std::move(r.error()));
        ++i;
        ++position_;
    }
    return i;
}

result<void> http_body_decoder::step_size(char c) {
    if (const int v = hex_digit_value(c); v >= 0) {
        if (digits_ == limits_.max_chunk_size_digits) {
            return fail(http_errc::bad_chunk, "chunk size has too many digits", position_);
        }
        ++digits_;
        remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
        if (remaining_ > limits_.max_body_bytes - payload_) {
            return fail(http_errc::body_too_large, "body too large: chunk above the limit",
                        position_);
        }
        return {};
    }
    if (digits_ == 0) return fail(http_errc::bad_chunk, "chunk size is not hex", position_);
    if (c == ';' || c == ' ' || c == '\t') {
        state_ = state::extension;  // BWS and extensions up to the CR: checked, then dropped
        return step_meta(c);
    }
    if (c == '\r') {
        state_ = state::size_lf;
        return {};
    }
    if (c == '\n') return fail(http_errc::bad_line_ending, "line ends in a bare LF", position_);
    return fail(http_errc::bad_chunk, "bad byte after a chunk size", position_);
}

/// One byte of a chunk extension or trailer line: no control bytes, bounded in total.
result<void> http_body_decoder::step_meta(char c) {
    if (c == '\n') return fail(http_errc::bad_line_ending, "line ends in a bare LF", position_);
    if (!meta_byte(c)) return fail(http_errc::bad_chunk, "control byte in a chunk line", position_);
    if (++meta_bytes_ > limits_.max_head_bytes) {
        return fail(http_errc::bad_chunk, "chunk extensions or trailers too long", position_);
    }
    return {};
}

result<void> http_body_decoder::step(char c) {
    const auto expect_lf = [&](state next) -> result<void> {
        if (c != '\n') return fail(http_errc::bad_line_ending, "CR not followed by LF", position_);
        state_ = next;
        return {};
    };
    switch (state_) {
    case state::size: return step_size(c);
    case state::extension:
    case state::trailer:
        if (c == '\r') {
            state_ = state_ == state::extension ? state::size_lf : state::trailer_lf;
            return {};
        }
        return step_meta(c);
    case state::size_lf: return expect_lf(remaining_ == 0 ? state::trailer_start : state::data);
    case state::data_cr:
        if (c == '\n') return fail(http_errc::bad_line_ending, "line ends in a bare LF", position_);
        if (c != '\r')
            return fail(http_errc::bad_chunk, "chunk data longer than its size", position_);
        state_ = state::data_lf;
        return {};
    case state::data_lf:
        if (auto r = expect_lf(state::size); !r) return r;
        digits_ = 0;
        return {};
    case state::trailer_start:
        if (c == '\r') {
            state_ = state::final_lf;
            return {};
        }
        state_ = state::trailer;
        return step_meta(c);
    case state::trailer_lf: return expect_lf(state::trailer_start);
    case state::final_lf: return expect_lf(state::done);
    default: return {};
    }
}

result<void> http_body_decoder::finish() {
    if (state_ == state::until_close) state_ = state::done;
    if (state_ == state::done) return {};
    if (state_ == state::failed) return std::unexpected(failure_);
    return fail(http_errc::truncated_body, "the stream ended inside the body", position_);
}

}  // namespace minibit::wire
