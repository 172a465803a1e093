// One connection of the control server (private to its sources): what was read, the answer
// going out, and for an event stream what ends its subscription. Reactor thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "minibit/agent/control_server.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::agent {

/// One connection on the control socket.
struct control_server::client {
    int fd = -1;
    io::watch_id watch{};
    io::timer_id deadline{};
    std::string in;
    std::string out;
    std::size_t sent = 0;
    std::optional<wire::http_body_decoder> body;  ///< set once the head is read
    api_request req;
    bool answered = false;   ///< the request went to the handler, or an error was answered
    bool closing = false;    ///< the answer is out; draining what the client still sends
    bool streaming = false;  ///< an event stream: stays open, chunks pushed as they come
    std::function<void()> end_stream;  ///< ends the stream's subscription
};

}  // namespace minibit::agent
