// Whether this process alone holds a port. Reactor groups bind one socket per reactor with
// SO_REUSEPORT, and the kernel lets any other process of the same user join such a port and
// take a share of its connections and datagrams (a silent split brain). These functions ask
// the kernel's socket tables (sock_diag netlink, else /proc/net/{tcp,tcp6,udp,udp6}) and read
// this process's descriptors (/proc/self/fd) to refuse that. Any thread; they block briefly.
#pragma once

#include <cstdint>

#include "minibit/core/result.hpp"
#include "minibit/io/address.hpp"

namespace minibit::io {

/// The transport a port is held for.
enum class transport : std::uint8_t { tcp, udp };

/// For an address with port 0: the same address with a port that no socket of any process
/// holds now, found by an exclusive bind (no SO_REUSEADDR, no SO_REUSEPORT) that is closed
/// again; other addresses come back unchanged.
[[nodiscard]] result<address> pick_free_port(const address& addr, transport t);

/// Fails with io_errc::address_in_use ("address A is in use by another process") when a socket
/// this process does not own listens (TCP) or is bound (UDP) on addr's port at an address that
/// overlaps addr (equal, or either one a wildcard). Call it before a group binds and again
/// after every member has bound.
[[nodiscard]] result<void> check_sole_owner(const address& addr, transport t);

/// The error for an address that another process holds; also what a group reports when its
/// own bind fails with EADDRINUSE.
[[nodiscard]] error address_in_use(const address& addr, transport t);

}  // namespace minibit::io
