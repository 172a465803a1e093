// Tracker latency while a swarm runs: a thread that sends one HTTP announce at a time, at a
// fixed modest rate, to the swarm's tracker (through the `announce` command's HTTP driver, a new
// connection each time, as a peer's tracker client does) for an info hash of its own, so the
// swarm never sees the probe as a peer. Latency is connect + request + whole answer. Also the
// tracker process's CPU time from /proc. start/stop/result from one (the driver's) thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include "minibit/loadgen/announce_report.hpp"

namespace minibit::loadgen {

/// What the probe measured.
struct probe_result {
    double rate_per_second = 0;  ///< the rate asked for
    std::uint64_t sent = 0;
    std::uint64_t answered = 0;
    std::uint64_t errors = 0;  ///< timeouts, failures, bad answers, connection errors
    std::uint64_t p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

/// A bounded announce probe against 127.0.0.1:port.
class tracker_probe {
public:
    /// Probes `rate` announces per second (issuing stops at stop() or at `until`), from a
    /// thread pinned to `cpu` when one is given.
    tracker_probe(std::uint16_t port, double rate, std::uint32_t numwant,
                  std::chrono::steady_clock::time_point until, std::optional<unsigned> cpu);
    tracker_probe(const tracker_probe&) = delete;
    tracker_probe& operator=(const tracker_probe&) = delete;
    tracker_probe(tracker_probe&&) = delete;
    tracker_probe& operator=(tracker_probe&&) = delete;
    ~tracker_probe();

    /// Starts the probe thread.
    void start();
    /// Stops issuing and joins the thread (the announce in flight finishes first).
    void stop();
    /// The figures so far (call after stop()).
    [[nodiscard]] probe_result result() const;

private:
    void loop();

    std::uint16_t port_;
    double rate_;
    std::uint32_t numwant_;
    std::chrono::steady_clock::time_point until_;
    std::optional<unsigned> cpu_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    latency_histogram latency_;  // probe thread until joined
    probe_result counts_;        // probe thread until joined
};

/// User + system CPU seconds a process has used so far (from /proc/PID/stat), if readable.
[[nodiscard]] std::optional<double> process_cpu_seconds(pid_t pid);

}  // namespace minibit::loadgen
