// Byte counts and rates as people read them: binary units picked by size ("1.0 MiB",
// "1.10 GiB/s", never "1150000.0 KiB/s"). For the programs' text output; JSON keeps raw numbers.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minibit {

/// "512 B", "10.2 KiB", "1.0 MiB", "3.50 GiB": three significant digits from KiB up.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

/// format_bytes per second: "0 B/s", "640 KiB/s", "112 MiB/s", "1.10 GiB/s".
[[nodiscard]] std::string format_rate(double bytes_per_second);

/// Parses a byte count as people write it: "4194304", "4MiB", "4 MiB/s", "1.5M", "500kB"
/// (K, M, G, T and KiB... are binary, kB, MB, GB, TB decimal; "B" and "/s" optional);
/// nullopt for anything else or above 2^63.
[[nodiscard]] std::optional<std::uint64_t> parse_bytes(std::string_view text);

}  // namespace minibit
