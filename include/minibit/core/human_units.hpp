// Byte counts and rates as people read them: binary units picked by size ("1.0 MiB",
// "1.10 GiB/s", never "1150000.0 KiB/s"). For the programs' text output; JSON keeps raw numbers.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>

namespace minibit {

/// "512 B", "10.2 KiB", "1.0 MiB", "3.50 GiB": three significant digits from KiB up.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

/// format_bytes per second: "0 B/s", "640 KiB/s", "112 MiB/s", "1.10 GiB/s".
[[nodiscard]] std::string format_rate(double bytes_per_second);

}  // namespace minibit
