// The agent's control API, HTTP/1.1 with JSON bodies, versioned under /v1: requests already
// framed by the control server go in, one response comes out (at once, or later for a removal
// that waits for its torrent to stop). Validates strictly: unknown fields and query parameters,
// bad hashes, paths outside the download roots and bad torrents get a 4xx JSON error and change
// nothing. Reactor thread of the agent.
#pragma once

#include <functional>
#include <string>

namespace minibit::agent {

class agent;

/// One framed request.
struct api_request {
    std::string method;
    std::string target;        ///< path and query, as sent
    std::string content_type;  ///< media type without parameters, lower case ("" when absent)
    std::string body;
};

/// One response; body is JSON unless content_type says otherwise.
struct api_response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
};

using respond_fn = std::function<void(api_response)>;

/// Answers `request` through `respond` (called exactly once, maybe later).
void handle_api(agent& a, const api_request& request, respond_fn respond);

/// The JSON error body {"error": why}.
[[nodiscard]] std::string error_body(const std::string& why);

}  // namespace minibit::agent
