// CPU placement for `swarm --tracker-cpu N`: the tracker process and the latency probe on CPU N,
// this process (its reactor threads, hash workers, peer processes) on every other CPU, so a
// saturating swarm does not queue the tracker behind it: the measuring setup (tracker
// pinned to one core, load on the other).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "minibit/core/result.hpp"

namespace minibit::loadgen {

/// Why `cpu` cannot be left to the tracker (not usable by this process, or the only one), if so.
[[nodiscard]] std::optional<std::string> cpu_placement_problem(unsigned cpu);

/// Confines the calling thread, and so every thread and process it creates afterwards, to the
/// CPUs it may use now minus `cpu`. Fails as cpu_placement_problem says.
[[nodiscard]] result<void> leave_cpu_free(unsigned cpu);

/// Pins every thread of process `pid` (from /proc/PID/task) to `cpu`.
[[nodiscard]] result<void> pin_process(pid_t pid, unsigned cpu);

/// Pins the calling thread to `cpu`.
[[nodiscard]] result<void> pin_this_thread(unsigned cpu);

}  // namespace minibit::loadgen
