#include "minibit/loadgen/spawn_floor.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

namespace minibit::loadgen {
namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
}

}  // namespace

result<floor_sample> measure_spawn_floor(const spawn_spec& spec, std::uint32_t count,
                                         std::chrono::milliseconds timeout) {
    std::vector<child_process> children;
    children.reserve(count);
    floor_sample sample;
    const auto start = clock::now();
    // All launched before any exec is awaited, as the driver starts its peers.
    for (std::uint32_t i = 0; i < count; ++i) {
        auto child = child_process::launch(spec);
        if (!child) return std::unexpected(child.error());  // the others die in ~child_process
        children.push_back(std::move(*child));
    }
    for (auto& child : children) {
        if (auto ran = child.confirm_exec(); !ran) return std::unexpected(ran.error());
    }
    sample.spawned_seconds = seconds_since(start);
    const auto deadline = start + timeout;
    while (true) {
        const bool all_ended = std::all_of(children.begin(), children.end(),
                                           [](child_process& c) { return c.poll(); });
        if (all_ended) break;
        if (stop_signal() != 0) return fail(loadgen_errc::interrupted, "interrupted");
        if (clock::now() >= deadline)
            return fail(loadgen_errc::timed_out, "the processes did not end in time");
        wait_for_event(std::chrono::milliseconds(1));
    }
    sample.total_seconds = seconds_since(start);
    sample.all_succeeded = std::all_of(
        children.begin(), children.end(),
        [](const child_process& c) { return c.status() && c.status()->success(); });
    return sample;
}

}  // namespace minibit::loadgen
