// Private to tracker/: a peer's address and port as the bytes a peer_list stores (address, then
// the port big-endian), shared by the announce path and the merge of snapshots and the store.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {

/// The N-byte endpoint of p: N = 6 for IPv4, 18 for IPv6.
template <std::size_t N>
std::array<std::uint8_t, N> endpoint_of(const peer_address& p) {
    std::array<std::uint8_t, N> ep{};
    std::memcpy(ep.data(), p.address.data(), N - 2);
    ep[N - 2] = static_cast<std::uint8_t>(p.port >> 8U);
    ep[N - 1] = static_cast<std::uint8_t>(p.port & 0xffU);
    return ep;
}

}  // namespace minibit::tracker
