// The tracker's minimal HTTP/1.x request-head parser: request line plus headers, bounded in
// size and header count, enough for GET with keep-alive (RFC 9112). Bodies are refused.
// Pure functions on value types; any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::tracker {

enum class http_errc {
    incomplete = 1,     ///< no blank line yet: wait for more bytes
    too_large,          ///< head longer than max_head_bytes
    too_many_headers,   ///< more header lines than max_headers
    bad_request_line,   ///< not "METHOD SP target SP HTTP/1.x"
    bad_header,         ///< a header line without ':' or with a space before it
    bad_method,         ///< not GET
    has_body,           ///< Content-Length above zero or Transfer-Encoding present
};
[[nodiscard]] constexpr std::string_view error_domain(http_errc) { return "http"; }

/// Bounds for one request head.
struct http_limits {
    std::size_t max_head_bytes = 8192;
    std::size_t max_headers = 64;
};

/// Whether the connection stays open after the answer.
enum class keep_alive : bool { no = false, yes = true };

/// A parsed request head; views point into the parsed buffer.
struct http_head {
    std::string_view target;
    keep_alive persist = keep_alive::yes;
    std::size_t head_bytes = 0;   ///< bytes consumed, blank line included
};

/// Parses the request head at the start of `buffer`; http_errc::incomplete asks for more bytes.
[[nodiscard]] result<http_head> parse_http_head(std::string_view buffer, const http_limits& limits);

}  // namespace minibit::tracker
