// The HTTP front end of one reactor: accepts connections, parses bounded GET request heads
// (keep-alive and pipelining), asks the tracker_service for answers, and closes idle, slow or
// misbehaving clients. Private to tracker/; owned by and called on its reactor's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "minibit/io/reactor.hpp"
#include "minibit/tracker/http_request.hpp"
#include "minibit/tracker/server.hpp"
#include "minibit/tracker/service.hpp"
#include "rollout_api.hpp"

namespace minibit::tracker {

class http_front {
public:
    http_front(io::reactor& r, tracker_service& service, const http_front_config& config);

    /// Listens (SO_REUSEPORT, so every reactor can share the port); returns the bound address.
    [[nodiscard]] result<io::address> listen(const io::address& addr);
    /// Closes connections idle or slow past their deadlines; call about once a second.
    void sweep();
    /// Stops accepting and closes every connection.
    void shutdown();
    /// Serves the rollout endpoints and page too (before listen(); it must outlive this).
    void set_api(const rollout_api* api) { api_ = api; }
    /// Open connections.
    [[nodiscard]] std::size_t connection_count() const { return conns_.size(); }

private:
    using time_point = io::reactor::clock::time_point;
    enum class state : std::uint8_t { reading, discarding, closing };
    struct conn {
        std::string buf;
        io::address peer;
        // From the clock itself, not r_.now(): the reactor refreshes now() after dispatching
        // a wait's events, so during an accept it can be up to a tick (1 s) old.
        time_point deadline;
        state st = state::reading;
        bool idle = false;  ///< between two requests of a keep-alive connection
    };
    void on_accept(io::connection c, const io::address& peer);
    void on_data(std::uint64_t id, std::span<const std::byte> data);
    void forget(std::uint64_t id);  ///< drops a closed connection's state and the gauge's count
    void serve(std::uint64_t id, conn& c);
    /// Sends an answer and drops the request's bytes; false when the connection closes.
    bool finish(std::uint64_t id, conn& c, const http_reply& reply, wire::http_connection persist,
                std::size_t consumed, std::string_view headers = {});
    void reject(std::uint64_t id, conn& c, const error& e);
    /// Sends the head (with `headers`, extra lines each ending in CRLF) and the body.
    void send_reply(std::uint64_t id, const http_reply& reply, wire::http_connection persist,
                    std::string_view headers = {});
    [[nodiscard]] std::chrono::seconds now_seconds() const;

    io::reactor& r_;
    tracker_service& service_;
    http_front_config config_;
    const rollout_api* api_ = nullptr;
    std::optional<io::listener_id> listener_;
    std::unordered_map<std::uint64_t, conn> conns_;
};

}  // namespace minibit::tracker
