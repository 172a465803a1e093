// The agent's control socket: a Unix stream socket (mode 0660) serving HTTP/1.1, one request
// per connection (answered with Connection: close). Heads and bodies are framed by the wire
// HTTP codec with fixed bounds; a malformed or oversized request gets a 4xx JSON error without
// reaching the handler; connections are capped in number and time, and when the cap is reached
// the oldest connection still sending its head makes room (no slowloris). Reactor thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "minibit/agent/api.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::agent {

/// Bounds of the control server.
struct control_limits {
    std::size_t max_head_bytes = 8192;
    std::uint64_t max_body_bytes = 16U << 20U;  ///< a large .torrent fits
    std::size_t max_clients = 64;
    std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
    std::size_t max_stream_buffer = std::size_t{256} * 1024;  ///< unsent event bytes, then drop
    std::chrono::milliseconds stream_heartbeat = std::chrono::seconds(15);
};

/// Serves the API on a Unix socket.
class control_server {
public:
    using handler_fn = std::function<void(const api_request&, respond_fn)>;

    /// Binds `path` (creating its folder; refusing when another agent answers there) and
    /// starts accepting.
    [[nodiscard]] static result<std::unique_ptr<control_server>> open(
        io::reactor& reactor, const std::filesystem::path& path, handler_fn handler,
        control_limits limits = {});
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;
    /// Listens on TCP `addr` ("ADDR:PORT"); every request must carry
    /// `Authorization: Bearer <token>` (401 otherwise) unless `token` is empty.
    [[nodiscard]] static result<std::unique_ptr<control_server>> open_tcp(
        io::reactor& reactor, const std::string& addr, std::string token, handler_fn handler,
        control_limits limits = {});
    /// Closes every connection (ending their streams) and the socket, and removes the socket
    /// file.
    ~control_server();
    /// The bound TCP port (0 for a Unix socket).
    [[nodiscard]] std::uint16_t port() const { return port_; }

private:
    struct client;
    control_server(io::reactor& reactor, handler_fn handler, control_limits limits);
    void on_accept();
    void on_client(std::uint64_t id, io::fd_interest ready);
    void read_from(std::uint64_t id, client& c);
    void try_request(std::uint64_t id, client& c);
    void answer(std::uint64_t id, const api_response& r);
    void write_to(std::uint64_t id, client& c);
    void drop(std::uint64_t id);
    /// Drops the oldest client whose head is incomplete; false when there is none.
    bool evict_slowest_head();
    [[nodiscard]] result<void> start_watch();
    // control_stream.cpp: streamed answers (server-sent events) and the bearer token.
    void start_stream(std::uint64_t id, client& c, const stream_open_fn& open);
    [[nodiscard]] bool push(std::uint64_t id, std::string_view chunk);
    void heartbeat(std::uint64_t id);
    [[nodiscard]] bool authorized(const std::string& header) const;

    io::reactor& reactor_;
    handler_fn handler_;
    control_limits limits_;
    std::filesystem::path path_;
    std::string token_;  ///< bearer token a TCP request must carry ("" for the Unix socket)
    std::uint16_t port_ = 0;
    int fd_ = -1;
    io::watch_id watch_{};
    std::map<std::uint64_t, std::unique_ptr<client>> clients_;
    std::uint64_t next_id_ = 1;
    io::scope scope_;  ///< timers and deferred answers; last member, first to go
};

}  // namespace minibit::agent
