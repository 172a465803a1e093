// Small helpers shared by the two halves of peer_connection (private to swarm/): the wire id of
// a decoded message for the counters, byte-span views, block comparison.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm::detail {

/// Wire message id of each peer_message alternative (-1: handshake and keep-alive).
inline constexpr std::array<int, 18> kind_table{-1, -1, 0, 1, 2, 3, 4, 5, 6,
                                                7,  8,  9, 13, 14, 15, 16, 17, 20};
static_assert(std::variant_size_v<wire::peer_message> == kind_table.size());

/// The wire id of m, or -1 for a handshake or keep-alive.
[[nodiscard]] inline int kind_of(const wire::peer_message& m) { return kind_table[m.index()]; }

/// Views received bytes as the codec's unsigned bytes.
[[nodiscard]] inline std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) {
    return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

/// Same piece, offset and length.
[[nodiscard]] inline bool same_block(const wire::block_ref& a, const wire::block_ref& b) {
    return a.piece == b.piece && a.begin == b.begin && a.length == b.length;
}

}  // namespace minibit::swarm::detail
