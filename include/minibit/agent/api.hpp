// The agent's control API, HTTP/1.1 with JSON bodies, versioned under /v1: requests already
// framed by the control server go in, one response comes out (at once, or later for a removal
// that waits for its torrent to stop). Validates strictly: unknown fields and query parameters,
// bad hashes, paths outside the download roots and bad torrents get a 4xx JSON error and change
// nothing. Reactor thread of the agent.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace minibit::agent {

class agent;
class latency_histogram;

/// One framed request.
struct api_request {
    std::string method;
    std::string target;        ///< path and query, as sent
    std::string content_type;  ///< media type without parameters, lower case ("" when absent)
    std::string body;
};

/// Where a stream's chunks go; false once the client is gone or too slow (it was dropped).
using stream_sink = std::function<bool(std::string_view chunk)>;
/// Starts a stream once its head is out; returns what ends it (called once, when the client
/// goes or the server closes).
using stream_open_fn = std::function<std::function<void()>(stream_sink)>;

/// One response; body is JSON unless content_type says otherwise.
struct api_response {
    api_response() = default;
    /// A whole answer.
    api_response(int code, std::string text, std::string type = "application/json")
        : status(code), body(std::move(text)), content_type(std::move(type)) {}

    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    /// Set for a stream (server-sent events): `body` is its first chunk, more follow through
    /// the sink; the connection stays open without a Content-Length.
    stream_open_fn stream;
};

using respond_fn = std::function<void(api_response)>;

/// Answers `request` through `respond` (called exactly once, maybe later); the time to the
/// answer goes into `latency` (GET /metrics shows it).
void handle_api(agent& a, latency_histogram& latency, const api_request& request,
                respond_fn respond);

/// Answers only GET /metrics (the read-only --metrics listener); 404 for anything else.
void handle_metrics_only(agent& a, latency_histogram& latency, const api_request& request,
                         respond_fn respond);

/// The JSON error body {"error": why}.
[[nodiscard]] std::string error_body(const std::string& why);

}  // namespace minibit::agent
