// Private to swarm/: HTTP(S) GETs through libcurl's multi interface, driven by one reactor.
// One fetcher per reactor loop, shared by every tracker and scrape client on it (shared(): a
// multi handle costs ~66 KB and a wake-up socket pair, which made it the largest item per
// in-process peer when each client had its own). Its holders keep it alive: it ends with the
// last of them, on the loop's thread. A holder that dies cancels its own requests; answers go
// back through the holder's io::scope, so none reaches a dead holder even if one is missed.
// libcurl's sockets (opened and closed through our callbacks, so a watch always ends before its
// descriptor closes) are watched level-triggered with reactor::watch_fd, its one timeout is a
// reactor timer, and curl_multi_socket_action runs only from those reactor callbacks, never
// from inside a libcurl callback. Names resolve on libcurl's resolver thread (AsynchDNS), so the
// reactor never blocks on DNS. Bodies are bounded; completions are posted, never called inline.
// Timeouts, body bounds and trusted authorities are per request. Reactor thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <curl/curl.h>

#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::swarm {

/// One GET's bounds and trust.
struct http_get_options {
    std::chrono::milliseconds timeout{15000};  ///< the whole exchange, DNS and TLS included
    std::size_t max_body_bytes = 1U << 20U;
    std::size_t max_head_bytes = 16384;  ///< all response header lines together
    /// PEM file of the certificate authorities to trust for https (empty: the system's, or
    /// $CURL_CA_BUNDLE / $SSL_CERT_FILE when set).
    std::string ca_file;
};

/// A complete answer: the final status (after redirects) and its body.
struct http_answer {
    long status = 0;
    std::string body;
};

/// Runs HTTP(S) GETs on one reactor.
class http_fetcher {
public:
    using done_fn = std::function<void(result<http_answer>)>;
    using request_id = std::uint64_t;
    struct request;  ///< one GET in flight (defined in the .cpp)

    /// The fetcher of `reactor`'s loop (reactor::loop(): a wrapping reactor shares the one
    /// of the reactor it wraps), made at the first call there (the loop must watch
    /// descriptors; both back ends do). Call on the loop's thread; drop it there too.
    [[nodiscard]] static result<std::shared_ptr<http_fetcher>> shared(io::reactor& reactor);
    http_fetcher(const http_fetcher&) = delete;
    http_fetcher& operator=(const http_fetcher&) = delete;
    /// Ends every request in flight without calling its callback.
    ~http_fetcher();

    /// Starts a GET of `url`; `done` runs later, once, through `reply` (on its scope's reactor
    /// thread, and only while that scope lives), unless cancelled.
    request_id get(const std::string& url, const http_get_options& options, io::scope::handle reply,
                   done_fn done);
    /// Drops a request in flight; its callback never runs. Unknown and finished ids are ignored
    /// (ids are never reused by one fetcher).
    void cancel(request_id id);
    /// Requests in flight.
    [[nodiscard]] std::size_t in_flight() const { return requests_.size(); }

    /// True when this libcurl resolves names off the calling thread (AsynchDNS).
    [[nodiscard]] static bool asynchronous_dns();

private:
    explicit http_fetcher(io::reactor& reactor);
    /// A fetcher of its own on `reactor`.
    [[nodiscard]] static result<std::unique_ptr<http_fetcher>> create(io::reactor& reactor);

    static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
    static int on_timer(CURLM* multi, long timeout_ms, void* self);
    static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);
    static int close_socket(void* self, curl_socket_t fd);
    /// Runs libcurl for `fd` (or its timeout) and hands out what finished.
    void act(int fd, int events);
    void drain();
    void forget_watch(int fd);

    io::reactor& reactor_;
    CURLM* multi_ = nullptr;
    std::map<request_id, std::unique_ptr<request>> requests_;
    std::map<int, io::watch_id> watches_;  ///< libcurl's sockets and resolver pipes, by fd
    io::timer_id timer_{};
    bool timer_armed_ = false;
    request_id next_id_ = 1;
    io::scope scope_;  ///< the timer and the watches; last member, so the first to go
};

}  // namespace minibit::swarm
