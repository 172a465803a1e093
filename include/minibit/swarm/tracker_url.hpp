// Pure helpers of the tracker client: splitting a tracker URL (http:// or udp://), and reading
// a tracker's HTTP/1.x response (status, Content-Length, chunked or close-delimited body)
// through the wire HTTP codec, bounded and strict. No I/O; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::swarm {

enum class tracker_scheme { http, udp };

/// A tracker URL split into its parts.
struct tracker_url {
    tracker_scheme scheme = tracker_scheme::http;
    std::string host;  ///< name or numeric address, without brackets
    std::uint16_t port = 0;
    std::string target;  ///< HTTP: path and query ("/announce?x=y"); UDP: unused
    bool operator==(const tracker_url&) const = default;
};

/// Parses "http://host[:port]/path[?query]" (port 80 by default) or "udp://host:port[/...]".
[[nodiscard]] result<tracker_url> parse_tracker_url(std::string_view url);

/// How a buffered HTTP response stands.
enum class http_progress { need_more, complete };

/// Checks whether `raw` holds a whole response (by Content-Length or chunked end); responses
/// without either are complete only at end of stream.
[[nodiscard]] result<http_progress> http_response_progress(std::string_view raw);

/// Extracts the body of a complete 200 response; other statuses and bad framing are errors.
[[nodiscard]] result<std::string> http_response_body(std::string_view raw,
                                                     std::size_t max_body_bytes);

}  // namespace minibit::swarm
