#include "minibit/core/human_units.hpp"

#include <array>
#include <cmath>
#include <string_view>
#include <utility>

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

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
    if (text.ends_with("/s")) text.remove_suffix(2);
    std::size_t i = 0;
    double value = 0;
    bool digits = false;
    bool fraction = false;
    double scale = 1;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c >= '0' && c <= '9') {
            digits = true;
            if (fraction) {
                scale /= 10;
                value += (c - '0') * scale;
            } else {
                value = value * 10 + (c - '0');
            }
        } else if (c == '.' && !fraction && digits) {
            fraction = true;
        } else {
            break;
        }
    }
    if (!digits || (fraction && scale == 1)) return std::nullopt;
    std::string_view unit = text.substr(i);
    if (unit.starts_with(' ')) unit.remove_prefix(1);
    static constexpr std::array<std::pair<std::string_view, double>, 18> table{{
        {"", 1.0},
        {"B", 1.0},
        {"K", 0x1p10},
        {"KiB", 0x1p10},
        {"k", 0x1p10},
        {"kB", 1e3},
        {"KB", 1e3},
        {"M", 0x1p20},
        {"MiB", 0x1p20},
        {"MB", 1e6},
        {"G", 0x1p30},
        {"GiB", 0x1p30},
        {"GB", 1e9},
        {"T", 0x1p40},
        {"TiB", 0x1p40},
        {"TB", 1e12},
        {"KIB", 0x1p10},
        {"MIB", 0x1p20},
    }};
    for (const auto& [name, factor] : table) {
        if (unit == name) {
            const double bytes = value * factor;
            if (!(bytes < 0x1p63)) return std::nullopt;
            return static_cast<std::uint64_t>(std::llround(bytes));
        }
    }
    return std::nullopt;
}

}  // namespace minibit
