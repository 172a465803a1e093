#include "tracker_resolve.hpp"

#include <netdb.h>

#include <random>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "minibit/swarm/torrent_options.hpp"

namespace minibit::swarm {
namespace {

/// The first address getaddrinfo gives for `host`; blocks for as long as the system resolver
/// takes, so it runs on a thread of its own (see resolve_off_thread).
result<io::address> resolve_name(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0 || found == nullptr) {
        return fail(swarm_errc::tracker_failed,
                    fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc)));
    }
    const auto addr = io::address::from_sockaddr(found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    return addr.with_port(port);
}

}  // namespace

std::optional<io::address> numeric_address(const std::string& host, std::uint16_t port) {
    const std::string text = host.find(':') != std::string::npos
                                 ? fmt::format("[{}]:{}", host, port)
                                 : fmt::format("{}:{}", host, port);
    if (auto a = io::address::parse(text)) {
        return *a;
    }
    return std::nullopt;
}

// A dead DNS server makes getaddrinfo wait for seconds; on the reactor thread that would stall
// every torrent and connection of it.
void resolve_off_thread(std::string host, std::uint16_t port, const io::scope::handle& back,
                        std::function<void(result<io::address>)> fn) {
    try {
        // `fn` is copied, not moved: should the thread not start, the catch below still has it.
        std::thread([host = std::move(host), port, back, fn]() mutable {
            auto addr = resolve_name(host, port);
            back.post(
                [fn = std::move(fn), addr = std::move(addr)]() mutable { fn(std::move(addr)); });
        }).detach();
    } catch (const std::system_error& e) {
        back.post([fn, why = std::string(e.what())] {
            fn(fail(swarm_errc::tracker_failed, "cannot start the name lookup: " + why));
        });
    }
}

std::uint32_t random_u32() {
    // One generator per thread: several reactors draw ids at once.
    thread_local std::mt19937 rng{std::random_device{}()};
    return static_cast<std::uint32_t>(rng());
}

}  // namespace minibit::swarm
