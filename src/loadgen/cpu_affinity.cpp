#include "cpu_affinity.hpp"

#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {
namespace {

// ESRCH (the thread exited in between) counts as done.
result<void> set_affinity(pid_t tid, const cpu_set_t& set, unsigned cpu) {
    if (::sched_setaffinity(tid, sizeof set, &set) != 0 && errno != ESRCH) {
        return fail(loadgen_errc::io, fmt::format("sched_setaffinity (CPU {}) of thread {}: {}",
                                                  cpu, tid, std::strerror(errno)));
    }
    return {};
}

cpu_set_t only(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return set;
}

// The CPUs this thread may use now, and why `cpu` cannot be left to the tracker, if so.
std::optional<std::string> usable_cpus(unsigned cpu, cpu_set_t& set) {
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) {
        return fmt::format("sched_getaffinity: {}", std::strerror(errno));
    }
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set)) {
        return fmt::format("CPU {} is not one this process may run on", cpu);
    }
    if (CPU_COUNT(&set) < 2)
        return fmt::format("CPU {} is the only one this process may run on", cpu);
    return std::nullopt;
}

}  // namespace

std::optional<std::string> cpu_placement_problem(unsigned cpu) {
    cpu_set_t set;
    return usable_cpus(cpu, set);
}

result<void> leave_cpu_free(unsigned cpu) {
    cpu_set_t set;
    if (auto problem = usable_cpus(cpu, set)) return fail(loadgen_errc::io, *problem);
    CPU_CLR(cpu, &set);
    return set_affinity(0, set, cpu);
}

result<void> pin_process(pid_t pid, unsigned cpu) {
    const cpu_set_t set = only(cpu);
    std::error_code ec;
    const std::string dir = fmt::format("/proc/{}/task", pid);
    std::filesystem::directory_iterator it(dir, ec);
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const auto tid = static_cast<pid_t>(
            std::strtol(it->path().filename().c_str(), nullptr, 10));
        if (auto r = set_affinity(tid, set, cpu); !r) return r;
    }
    if (ec) return fail(loadgen_errc::io, fmt::format("{}: {}", dir, ec.message()));
    return {};
}

result<void> pin_this_thread(unsigned cpu) {
    return set_affinity(0, only(cpu), cpu);
}

}  // namespace minibit::loadgen
