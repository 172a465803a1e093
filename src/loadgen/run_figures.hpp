// Figures of a swarm run beyond the per-peer rows: how the peers were hosted, the tracker's
// latency under the swarm (tracker_probe) and its CPU time, and, for in-process peers, the
// driver's own peak memory and descriptors. Value type and its table rendering; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "minibit/loadgen/swarm_options.hpp"
#include "tracker_probe.hpp"

namespace minibit::loadgen {

/// The run's resource and tracker figures.
struct run_figures {
    peer_hosting hosting = peer_hosting::processes;
    unsigned threads = 0;                          ///< reactor threads (in-process)
    std::optional<probe_result> probe;             ///< when the probe ran
    std::optional<double> swarm_seconds;           ///< peers started to the last completion
    std::optional<double> tracker_cpu_seconds;     ///< over the same interval
    std::optional<std::uint64_t> max_rss_bytes;    ///< the driver's peak RSS (in-process)
    std::optional<std::uint64_t> peak_anon_bytes;  ///< its anonymous (heap) part, sampled
    std::optional<std::uint64_t> peak_fds;         ///< the driver's open descriptors, sampled
    std::optional<std::uint64_t> nofile_limit;     ///< RLIMIT_NOFILE soft limit used
    /// Connection ends all in-process peers may hold at once, and the most they held.
    std::optional<std::uint64_t> connection_budget, peak_connections;
    /// CPUs the tracker and this driver were allowed at the end of the swarm (Cpus_allowed_list
    /// of /proc/PID/status, e.g. "1" and "0"); read back only with --tracker-cpu.
    std::optional<std::string> tracker_cpus, driver_cpus;
};

/// A few lines for the table (empty when nothing was measured).
[[nodiscard]] std::string format_figures_table(const run_figures& f);
/// The tracker's CPU time as a share of one core over the swarm's time, when both are known.
[[nodiscard]] std::optional<double> tracker_cpu_percent(const run_figures& f);

/// Open descriptors of this process (entries of /proc/self/fd), if readable.
[[nodiscard]] std::optional<std::uint64_t> open_descriptors();
/// Anonymous resident memory of this process in bytes (RssAnon of /proc/self/status).
[[nodiscard]] std::optional<std::uint64_t> anon_rss_bytes();
/// Cpus_allowed_list of /proc/PID/status ("self" for this process), if readable.
[[nodiscard]] std::optional<std::string> allowed_cpus(const std::string& pid);
/// Peak RSS of this process in bytes (getrusage).
[[nodiscard]] std::uint64_t peak_rss_bytes();

}  // namespace minibit::loadgen
