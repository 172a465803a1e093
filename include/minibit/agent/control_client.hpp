// A small blocking client of the agent's control socket, for the CLI verbs and the tests: one
// HTTP/1.1 request per connection, the response framed by the wire HTTP codec, every step
// bounded by a timeout. Any thread; each call opens and closes its own connection.
#pragma once

#include <chrono>
#include <filesystem>
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

/// Percent-encodes a query value (everything but unreserved characters and '/').
[[nodiscard]] std::string url_encode(std::string_view s);

}  // namespace minibit::agent
