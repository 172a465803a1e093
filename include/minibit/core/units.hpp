// Strong index and size types shared by every part, so that a piece index can never be passed
// where a block index or a byte count is expected. Value types; any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace minibit {

/// A typed integer: same size and speed as T, but not interchangeable with other tags.
template <class Tag, class T>
struct strong_index {
    T value{};

    constexpr strong_index() = default;
    constexpr explicit strong_index(T v) : value(v) {}
    [[nodiscard]] constexpr T get() const { return value; }
    constexpr auto operator<=>(const strong_index&) const = default;
    constexpr strong_index& operator++() {
        ++value;
        return *this;
    }
};

using piece_index = strong_index<struct piece_index_tag, std::uint32_t>;
using block_index = strong_index<struct block_index_tag, std::uint32_t>;
using shard_id = strong_index<struct shard_id_tag, std::uint32_t>;

/// BEP 3 / BEP 52: every client requests 16 KiB blocks; larger requests are refused by peers.
inline constexpr std::uint32_t block_size_bytes = 16 * 1024;

}  // namespace minibit

template <class Tag, class T>
struct std::hash<minibit::strong_index<Tag, T>> {
    std::size_t operator()(const minibit::strong_index<Tag, T>& i) const noexcept {
        return std::hash<T>{}(i.value);
    }
};
