// The load generator's commands as minibit-loadgen runs them once its flags are read: each
// takes its options, runs, prints its report on stdout (a table or text, or one JSON object)
// and any problem as one line on stderr ("minibit-loadgen: ..."), and returns the exit status:
// 0 success, 1 failure, 2 a request this machine cannot carry out (nothing was started),
// 128+N stopped by signal N. Call from the main thread, one command per process.
#pragma once

#include <cstdint>

#include "minibit/loadgen/announce_options.hpp"
#include "minibit/loadgen/spawn_floor.hpp"
#include "minibit/loadgen/swarm_options.hpp"

namespace minibit::loadgen {

/// How a command prints its report.
enum class report_format : std::uint8_t { text, json };

/// `swarm`: fits the options to this machine (open-file limit, CPUs), runs the swarm, prints.
[[nodiscard]] int swarm_command(swarm_options options, report_format format);

/// `announce`: writes the info-hash file if asked, then drives the load when a tracker is given.
[[nodiscard]] int announce_command(const announce_options& options, report_format format);

/// `floor`: spawns and reaps the processes `repeat` times and prints each repetition's times.
[[nodiscard]] int floor_command(const floor_options& options, report_format format);

}  // namespace minibit::loadgen
