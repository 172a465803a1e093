// A socket address (IPv4 or IPv6) held in a sockaddr_storage, with parse and to_string for the
// "127.0.0.1:6969" and "[::1]:6969" forms. A value type; any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"
#include "minibit/io/error.hpp"

namespace minibit::io {

/// An IPv4 or IPv6 address and port.
class address {
public:
    address();

    /// Parses "a.b.c.d:port" or "[v6]:port" (numeric only, no name lookup).
    [[nodiscard]] static result<address> parse(std::string_view text);
    /// Copies a kernel sockaddr of family AF_INET or AF_INET6; other families give an empty address.
    [[nodiscard]] static address from_sockaddr(const sockaddr* sa, socklen_t len);
    /// The IPv4 loopback 127.0.0.1 with the given port (0 = let the kernel choose).
    [[nodiscard]] static address loopback_v4(std::uint16_t port);

    /// "127.0.0.1:6969" or "[::1]:6969"; "" for an empty address.
    [[nodiscard]] std::string to_string() const;
    /// The port in host order.
    [[nodiscard]] std::uint16_t port() const;
    /// Returns a copy with another port.
    [[nodiscard]] address with_port(std::uint16_t port) const;
    /// AF_INET, AF_INET6, or AF_UNSPEC when empty.
    [[nodiscard]] int family() const { return storage_.ss_family; }
    [[nodiscard]] const sockaddr* data() const;
    [[nodiscard]] sockaddr* data();
    [[nodiscard]] socklen_t size() const { return size_; }

    /// Same family, address bytes and port.
    [[nodiscard]] bool operator==(const address& other) const;

private:
    sockaddr_storage storage_{};
    socklen_t size_ = 0;
};

}  // namespace minibit::io
