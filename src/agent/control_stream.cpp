// control_server, streamed answers and tokens: an event stream keeps its connection open and
// takes chunks as the agent pushes them; a client that lets more than max_stream_buffer bytes
// pile up unread is dropped, so a slow reader never blocks the agent. A comment line every
// stream_heartbeat finds clients that went away silently. Bearer tokens compare in constant
// time.
#include "minibit/agent/control_server.hpp"

#include <sys/socket.h>

#include "control_connection.hpp"

namespace minibit::agent {

void control_server::start_stream(std::uint64_t id, client& c, const stream_open_fn& open) {
    c.streaming = true;
    scope_.cancel_timer(c.deadline);
    c.deadline = scope_.add_timer(limits_.stream_heartbeat, [this, id] { heartbeat(id); });
    write_to(id, c);
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;  // gone while the head went out
    }
    // The destructor ends every stream, so the sink never outlives the server.
    it->second->end_stream = open([this, id](std::string_view chunk) { return push(id, chunk); });
}

bool control_server::push(std::uint64_t id, std::string_view chunk) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return false;
    }
    client& c = *it->second;
    if (c.out.size() - c.sent + chunk.size() > limits_.max_stream_buffer) {
        drop(id);  // too slow: dropped rather than buffered without bound
        return false;
    }
    const bool idle = c.out.size() == c.sent;
    c.out.append(chunk);
    if (idle) {
        write_to(id, c);
    }
    return clients_.contains(id);
}

void control_server::heartbeat(std::uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    it->second->deadline = scope_.add_timer(limits_.stream_heartbeat,
                                            [this, id] { heartbeat(id); });
    [[maybe_unused]] const bool alive = push(id, ": keep-alive\n\n");
}

bool control_server::authorized(const std::string& header) const {
    static constexpr std::string_view scheme = "Bearer ";
    if (header.size() != scheme.size() + token_.size() || !header.starts_with(scheme)) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < token_.size(); ++i) {
        diff |= static_cast<unsigned char>(header[scheme.size() + i] ^ token_[i]);
    }
    return diff == 0;
}

}  // namespace minibit::agent
