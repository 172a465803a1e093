#include "minibit/core/human_units.hpp"

#include <array>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

namespace minibit {
namespace {

constexpr std::array<std::string_view, 7> units{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

// `value` bytes with the largest unit that keeps it at or above 1, to three significant digits
// ("1.00", "10.2", "512"); whole bytes below 1 KiB.
std::string scaled(double value) {
    if (!(value > 0) || !std::isfinite(value)) return "0 B";
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < units.size()) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0) return fmt::format("{:.0f} B", value);
    // Rounding may carry to 1024 ("1024 KiB"): show the next unit instead.
    if (value >= 999.5 && unit + 1 < units.size()) {
        value /= 1024.0;
        ++unit;
    }
    const int decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
    return fmt::format("{:.{}f} {}", value, decimals, units[unit]);
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
    return scaled(static_cast<double>(bytes));
}

std::string format_rate(double bytes_per_second) {
    return scaled(bytes_per_second) + "/s";
}

}  // namespace minibit
