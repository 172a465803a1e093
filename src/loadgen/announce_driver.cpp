#include "announce_driver.hpp"

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

std::uint64_t micros_between(announce_clock::time_point a, announce_clock::time_point b) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
    return us > 0 ? static_cast<std::uint64_t>(us) : 0;
}

result<announce_report> run_announce(const announce_options& options) {
    announce_report report;
    report.options = options;
    auto done = options.tracker.scheme == tracker_scheme::udp ? run_udp_announces(options, report)
                                                              : run_http_announces(options, report);
    if (!done) return std::unexpected(done.error());
    return report;
}

}  // namespace minibit::loadgen
