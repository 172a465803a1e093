// Test data: a byte string made from a seed, the same on every run (the tests' files to share).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace minibit::testing {

/// n pseudo-random bytes from `seed` (mt19937_64; whole 8-byte words, any tail stays zero).
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::string out(n, '\0');
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        const std::uint64_t v = rng();
        std::memcpy(out.data() + i, &v, 8);
    }
    return out;
}

}  // namespace minibit::testing
