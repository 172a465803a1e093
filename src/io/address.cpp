#include "minibit/io/address.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace minibit::io {
namespace {

result<std::uint16_t> parse_port(std::string_view text, std::size_t offset) {
    unsigned value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end || value > 65535) {
        return fail(io_errc::bad_address, "port is not a number from 0 to 65535", offset);
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

address::address() {
    storage_.ss_family = AF_UNSPEC;
}

result<address> address::parse(std::string_view text) {
    // An address string is short; bound it before copying into a NUL-terminated buffer.
    std::array<char, INET6_ADDRSTRLEN + 1> host{};
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return fail(io_errc::bad_address, "expected [v6]:port", 0);
        }
        const auto host_text = text.substr(1, close - 1);
        if (host_text.size() >= host.size()) {
            return fail(io_errc::bad_address, "IPv6 address too long", 1);
        }
        std::memcpy(host.data(), host_text.data(), host_text.size());
        auto port = parse_port(text.substr(close + 2), close + 2);
        if (!port) {
            return std::unexpected(port.error());
        }
        sockaddr_in6 sa6{};
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons(*port);
        if (inet_pton(AF_INET6, host.data(), &sa6.sin6_addr) != 1) {
            return fail(io_errc::bad_address, "not a numeric IPv6 address", 1);
        }
        return from_sockaddr(reinterpret_cast<const sockaddr*>(&sa6), sizeof(sa6));
    }
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return fail(io_errc::bad_address, "expected host:port", text.size());
    }
    if (colon >= host.size()) {
        return fail(io_errc::bad_address, "IPv4 address too long", 0);
    }
    std::memcpy(host.data(), text.data(), colon);
    auto port = parse_port(text.substr(colon + 1), colon + 1);
    if (!port) {
        return std::unexpected(port.error());
    }
    sockaddr_in sa4{};
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons(*port);
    if (inet_pton(AF_INET, host.data(), &sa4.sin_addr) != 1) {
        return fail(io_errc::bad_address, "not a numeric IPv4 address", 0);
    }
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&sa4), sizeof(sa4));
}

address address::from_sockaddr(const sockaddr* sa, socklen_t len) {
    address out;
    if (sa == nullptr) {
        return out;
    }
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        std::memcpy(&out.storage_, sa, sizeof(sockaddr_in));
        out.size_ = sizeof(sockaddr_in);
    } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        std::memcpy(&out.storage_, sa, sizeof(sockaddr_in6));
        out.size_ = sizeof(sockaddr_in6);
    }
    return out;
}

address address::loopback_v4(std::uint16_t port) {
    sockaddr_in sa4{};
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons(port);
    sa4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&sa4), sizeof(sa4));
}

std::string address::to_string() const {
    std::array<char, INET6_ADDRSTRLEN + 1> buf{};
    if (family() == AF_INET) {
        const auto* sa4 = reinterpret_cast<const sockaddr_in*>(&storage_);
        inet_ntop(AF_INET, &sa4->sin_addr, buf.data(), static_cast<socklen_t>(buf.size()));
        return fmt::format("{}:{}", buf.data(), port());
    }
    if (family() == AF_INET6) {
        const auto* sa6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
        inet_ntop(AF_INET6, &sa6->sin6_addr, buf.data(), static_cast<socklen_t>(buf.size()));
        return fmt::format("[{}]:{}", buf.data(), port());
    }
    return {};
}

std::uint16_t address::port() const {
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

address address::with_port(std::uint16_t new_port) const {
    address out = *this;
    if (family() == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&out.storage_)->sin_port = htons(new_port);
    } else if (family() == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&out.storage_)->sin6_port = htons(new_port);
    }
    return out;
}

const sockaddr* address::data() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
}
sockaddr* address::data() {
    return reinterpret_cast<sockaddr*>(&storage_);
}

bool address::operator==(const address& other) const {
    return size_ == other.size_ && std::memcmp(&storage_, &other.storage_, size_) == 0;
}

}  // namespace minibit::io
