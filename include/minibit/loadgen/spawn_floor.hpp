// `minibit-loadgen floor`: the cost of starting and reaping N processes that do nothing, through
// the same child_process launch path the swarm driver uses for its tracker and peers. It is the
// floor under any process-per-peer swarm run on this machine. Single-threaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "minibit/loadgen/child_process.hpp"

namespace minibit::loadgen {

/// One measurement: every process launched (as the driver starts its peers: all forked, then
/// each exec confirmed), then all reaped; seconds from the first launch to the last reap.
struct floor_sample {
    double spawned_seconds = 0;  ///< first spawn to the last spawn returned
    double total_seconds = 0;    ///< first spawn to every process reaped
    bool all_succeeded = false;  ///< every process exited 0
};

/// Spawns `count` copies of `spec` and reaps them all; fails when a spawn fails or the
/// processes do not end within `timeout` (then every one is killed and reaped).
[[nodiscard]] result<floor_sample> measure_spawn_floor(const spawn_spec& spec, std::uint32_t count,
                                                       std::chrono::milliseconds timeout);

/// What `minibit-loadgen floor` measures.
struct floor_options {
    std::uint32_t processes = 11;  ///< per repetition: a tracker and 10 peers
    std::filesystem::path program = "/bin/true";
    std::vector<std::string> args;  ///< the program's arguments
    std::uint32_t repeat = 5;
    std::filesystem::path log_dir = "logs";  ///< their output goes to DIR/floor.log
};

}  // namespace minibit::loadgen
