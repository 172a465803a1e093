// A small blocking client of the agent's control socket, for the CLI verbs and the tests: one
// HTTP/1.1 request per connection, the response framed by the wire HTTP codec, every step
// bounded by a timeout. Any thread; each call opens and closes its own connection.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "minibit/core/result.hpp"

namespace minibit::agent {

enum class client_errc {
    no_agent = 1,  ///< nothing listens on the socket (or it does not exist)
    io,            ///< the connection failed midway
    timeout,       ///< no complete answer in time
    bad_response,  ///< the answer is not HTTP
};
[[nodiscard]] constexpr std::string_view error_domain(client_errc) {
    return "agent client";
}

/// The agent's answer.
struct control_reply {
    int status = 0;
    std::string body;
};

/// Sends one request to the agent at `socket` and reads its answer.
[[nodiscard]] result<control_reply> call_agent(
    const std::filesystem::path& socket, std::string_view method, std::string_view target,
    std::string_view content_type = {}, std::string_view body = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// One server-sent event.
struct sse_event {
    std::string kind;  ///< the "event:" field
    std::string data;  ///< the "data:" field (JSON from the agent)
};

/// An open GET /v1/events stream of the agent: blocking reads, each with a deadline.
class event_stream {
public:
    using clock = std::chrono::steady_clock;

    /// Connects and subscribes (`target` is "/v1/events" with its query); once this returns,
    /// no later event is missed.
    [[nodiscard]] static result<std::unique_ptr<event_stream>> open(
        const std::filesystem::path& socket, std::string_view target,
        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    event_stream(const event_stream&) = delete;
    event_stream& operator=(const event_stream&) = delete;
    ~event_stream();

    /// The next event (comments skipped); client_errc::timeout when none came by `deadline`,
    /// client_errc::io when the agent closed the stream.
    [[nodiscard]] result<sse_event> next(clock::time_point deadline);

private:
    explicit event_stream(int fd) : fd_(fd) {}
    int fd_;
    std::string buffer_;  ///< bytes read and not yet parsed
};

/// Percent-encodes a query value (everything but unreserved characters and '/').
[[nodiscard]] std::string url_encode(std::string_view s);

}  // namespace minibit::agent
