// Hexadecimal digits: the one decoder of a hex digit, for info hashes, %-escapes and HTTP chunk
// sizes. Header-only and constexpr.
#pragma once

namespace minibit {

/// The value 0-15 of a hexadecimal digit (either case), or -1 for any other character.
[[nodiscard]] constexpr int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace minibit
