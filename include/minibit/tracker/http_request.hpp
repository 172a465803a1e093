// The tracker's HTTP request policy on top of the one HTTP/1.x codec (wire/http_head.hpp): a
// request head bounded by the limits, GET only, no body (a tracker GET has none), keep-alive per
// RFC 9112. Pure functions on value types; any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "minibit/core/result.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::tracker {

/// Requests the codec accepts but the tracker does not serve.
enum class request_errc {
    bad_method = 1,  ///< not GET
    has_body,        ///< Content-Length above zero or Transfer-Encoding present
};
[[nodiscard]] constexpr std::string_view error_domain(request_errc) {
    return "http_request";
}

/// A request the tracker serves; the target views the parsed buffer.
struct tracker_request {
    std::string_view target;
    wire::http_connection persist = wire::http_connection::keep_alive;
    std::size_t head_bytes = 0;  ///< bytes consumed, blank line included
};

/// Parses the request head at the start of `buffer` and applies the tracker's policy;
/// wire::http_errc::incomplete asks for more bytes.
[[nodiscard]] result<tracker_request> parse_tracker_request(std::string_view buffer,
                                                            const wire::http_limits& limits);

}  // namespace minibit::tracker
