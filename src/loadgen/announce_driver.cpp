#include "announce_driver.hpp"

#include <array>
#include <fstream>

namespace minibit::loadgen {

run_window run_window::from(const announce_options& o) {
    run_window w;
    w.start = announce_clock::now();
    w.issue_until = w.start + o.duration;
    const auto attempts = o.tracker.scheme == tracker_scheme::udp ? o.udp_retries + 1 : 1;
    w.end_by = w.issue_until + o.timeout * attempts + std::chrono::seconds(1);
    w.count = o.count;
    w.rate = o.rate;
    return w;
}

arrival_schedule::arrival_schedule(arrival_model model, double rate,
                                   announce_clock::time_point start)
    : model_(model), mean_gap_s_(rate > 0 ? 1.0 / rate : 0), next_(start) {}

void arrival_schedule::advance() {
    const double gap = model_ == arrival_model::poisson ? gap_(random_) * mean_gap_s_ : mean_gap_s_;
    // Whole clock ticks go into next_; the remainder is kept so that rounding never drifts.
    carry_ += std::chrono::duration<double>(gap);
    const auto whole = std::chrono::duration_cast<announce_clock::duration>(carry_);
    next_ += whole;
    carry_ -= whole;
}

std::uint64_t micros_between(announce_clock::time_point a, announce_clock::time_point b) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
    return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}

namespace {

/// This thread's time on a CPU and waiting runnable for one (ns), from
/// /proc/thread-self/schedstat (Linux with schedstats); zeros when unreadable.
std::array<double, 2> thread_schedstat() {
    std::ifstream in("/proc/thread-self/schedstat");
    double on_cpu = 0;
    double waiting = 0;
    if (!(in >> on_cpu >> waiting)) return {0, 0};
    return {on_cpu, waiting};
}

}  // namespace

result<announce_report> run_announce(const announce_options& options) {
    announce_report report;
    report.options = options;
    const auto before = thread_schedstat();
    auto done = options.tracker.scheme == tracker_scheme::udp ? run_udp_announces(options, report)
                                                              : run_http_announces(options, report);
    if (!done) return std::unexpected(done.error());
    const auto after = thread_schedstat();
    report.cpu_ms = (after[0] - before[0]) / 1e6;
    report.run_queue_wait_ms = (after[1] - before[1]) / 1e6;
    return report;
}

}  // namespace minibit::loadgen
