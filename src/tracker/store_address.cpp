#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>

#include "minibit/tracker/store.hpp"

namespace minibit::tracker {
namespace {

/// Digits only, in [0, max]; nullopt otherwise.
std::optional<unsigned> number(std::string_view s, unsigned max) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max)
        return std::nullopt;
    return v;
}

result<store_address> parse_tcp(std::string_view url, std::string_view rest) {
    const std::size_t base = url.size() - rest.size();
    store_address a;
    std::string_view hostport = rest.substr(0, rest.find('/'));
    if (hostport.size() != rest.size()) {
        const auto db = number(rest.substr(hostport.size() + 1), 65535);
        if (!db)
            return fail(store_errc::bad_address, "the database must be a number",
                        base + hostport.size() + 1);
        a.db = *db;
    }
    std::size_t colon = hostport.rfind(':');
    if (hostport.starts_with('[')) {
        const std::size_t close = hostport.find(']');
        if (close == std::string_view::npos)
            return fail(store_errc::bad_address, "unclosed [", base);
        a.host = std::string(hostport.substr(1, close - 1));
        colon = close + 1 < hostport.size() && hostport[close + 1] == ':' ? close + 1
                                                                          : std::string_view::npos;
        if (close + 1 < hostport.size() && colon == std::string_view::npos) {
            return fail(store_errc::bad_address, "expected :PORT after ]", base + close + 1);
        }
    } else {
        a.host = std::string(hostport.substr(0, colon));
    }
    if (a.host.empty()) return fail(store_errc::bad_address, "no host", base);
    if (colon != std::string_view::npos) {
        const auto port = number(hostport.substr(colon + 1), 65535);
        if (!port || *port == 0)
            return fail(store_errc::bad_address, "the port must be 1..65535", base + colon + 1);
        a.port = static_cast<std::uint16_t>(*port);
    }
    return a;
}

result<store_address> parse_unix(std::string_view url, std::string_view rest) {
    const std::size_t base = url.size() - rest.size();
    store_address a;
    a.unix_socket = true;
    const std::size_t q = rest.find('?');
    a.path = std::string(rest.substr(0, q));
    if (a.path.empty() || a.path[0] != '/') {
        return fail(store_errc::bad_address, "expected an absolute socket path", base);
    }
    if (a.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
        return fail(store_errc::bad_address, "socket path longer than 107 bytes", base);
    }
    if (q != std::string_view::npos) {
        const std::string_view query = rest.substr(q + 1);
        const auto db = query.starts_with("db=") ? number(query.substr(3), 65535) : std::nullopt;
        if (!db) return fail(store_errc::bad_address, "expected ?db=N", base + q + 1);
        a.db = *db;
    }
    return a;
}

}  // namespace

result<store_address> store_address::parse(std::string_view url) {
    if (url.starts_with("redis://")) return parse_tcp(url, url.substr(8));
    if (url.starts_with("unix://")) return parse_unix(url, url.substr(7));
    return fail(store_errc::bad_address, "expected redis://HOST:PORT[/DB] or unix:///PATH[?db=N]",
                0);
}

result<store_address> store_address::resolve() const {
    if (unix_socket) return *this;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
        rc != 0 || found == nullptr) {
        return fail(store_errc::unresolved, "cannot resolve " + host + ": " + ::gai_strerror(rc));
    }
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr =
        found->ai_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
    ::inet_ntop(found->ai_family, addr, text, sizeof text);
    ::freeaddrinfo(found);
    store_address out = *this;
    out.host = text;
    return out;
}

std::string store_address::to_string() const {
    if (unix_socket) return "unix://" + path + (db != 0 ? "?db=" + std::to_string(db) : "");
    const bool v6 = host.find(':') != std::string::npos;
    return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
           (db != 0 ? "/" + std::to_string(db) : "");
}

result<void> store_config::validate() const {
    using std::chrono::milliseconds;
    if (flush_interval < milliseconds(1) || refresh_interval < milliseconds(1) ||
        connect_timeout < milliseconds(1) || command_timeout < milliseconds(1)) {
        return fail(store_errc::bad_config, "store intervals and timeouts must be positive");
    }
    if (backoff_min < milliseconds(1) || backoff_max < backoff_min) {
        return fail(store_errc::bad_config, "store backoff: need 0 < min <= max");
    }
    if (feed_window < std::chrono::duration_cast<std::chrono::seconds>(refresh_interval) * 4 ||
        max_journal_per_shard == 0 || rewrite_window.count() <= 0) {
        return fail(store_errc::bad_config, "the store's feed window must cover 4 refresh periods");
    }
    return {};
}

}  // namespace minibit::tracker
