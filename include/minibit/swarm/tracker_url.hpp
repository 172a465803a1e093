// Checking a tracker URL before it is used: http:// and https:// (announced through libcurl)
// and udp:// (BEP 15, our own client), split by libcurl's URL parser so that what we accept is
// what libcurl will fetch. No I/O; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::swarm {

enum class tracker_scheme { http, https, udp };

/// A tracker URL's scheme, host and port.
struct tracker_url {
    tracker_scheme scheme = tracker_scheme::http;
    std::string host;  ///< name or numeric address, without brackets
    std::uint16_t port = 0;
    bool operator==(const tracker_url&) const = default;
};

/// Parses "http[s]://host[:port]/path[?query]" (port 80 or 443 by default) or
/// "udp://host:port[/...]"; other schemes, a missing host or a bad port are refused.
[[nodiscard]] result<tracker_url> parse_tracker_url(std::string_view url);

}  // namespace minibit::swarm
