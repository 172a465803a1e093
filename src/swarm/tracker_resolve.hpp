// Private to swarm/: finding a UDP tracker's address without blocking the reactor (numeric
// addresses parsed at once, host names resolved on a short-lived thread) and the random
// transaction ids of BEP 15. Shared by the tracker client's UDP announce and the UDP scrape.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::swarm {

/// `host` as a numeric IPv4 or IPv6 address with `port`, if it is one.
[[nodiscard]] std::optional<io::address> numeric_address(const std::string& host,
                                                         std::uint16_t port);

/// Resolves `host` on a thread of its own and hands the outcome to `fn` on the reactor thread of
/// `back` (dropped should that scope be gone by then).
void resolve_off_thread(std::string host, std::uint16_t port, const io::scope::handle& back,
                        std::function<void(result<io::address>)> fn);

/// A random 32-bit number (BEP 15 transaction ids and keys); reactor threads.
[[nodiscard]] std::uint32_t random_u32();

}  // namespace minibit::swarm
