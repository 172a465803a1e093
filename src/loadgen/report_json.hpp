// The loadgen's reports as one-line JSON objects (`--json`), written with nlohmann-json in this
// one translation unit. Field names, order and decimals are what bench/compare and the tests
// read; keep them stable. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "minibit/loadgen/announce_report.hpp"
#include "swarm_report.hpp"

namespace minibit::loadgen {

/// The swarm run, its figures and one object per peer.
[[nodiscard]] std::string format_json(const swarm_report& report);

/// The announce run: options, rates, latency percentiles, events, errors and failure reasons.
[[nodiscard]] std::string format_json(const announce_report& report);

/// One floor measurement series: seconds per repetition, spawn times and their median.
struct floor_report {
    std::filesystem::path program;
    std::uint32_t processes = 0;
    std::vector<double> seconds;          ///< first spawn to every process reaped
    std::vector<double> spawned_seconds;  ///< first spawn to the last spawn returned
};
[[nodiscard]] std::string format_json(const floor_report& report);

/// The median of the values (0 when empty).
[[nodiscard]] double median_of(std::vector<double> values);

}  // namespace minibit::loadgen
