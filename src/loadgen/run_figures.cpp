#include "run_figures.hpp"

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "minibit/core/human_units.hpp"

namespace minibit::loadgen {
namespace {

double ms(std::uint64_t micros) {
    return static_cast<double>(micros) / 1000.0;
}

// A count for the table ("null" when unknown, as in the JSON).
std::string opt_count(const std::optional<std::uint64_t>& v) {
    return v ? fmt::format("{}", *v) : std::string("null");
}

}  // namespace

std::optional<double> tracker_cpu_percent(const run_figures& f) {
    if (!f.tracker_cpu_seconds || !f.swarm_seconds || *f.swarm_seconds <= 0) return std::nullopt;
    return 100.0 * *f.tracker_cpu_seconds / *f.swarm_seconds;
}

std::string format_figures_table(const run_figures& f) {
    std::string out;
    if (f.hosting == peer_hosting::in_process) {
        out += fmt::format(
            "in-process: {} reactor threads, peak RSS {} (anonymous {}; the "
            "rest is the copies' mapped pages), peak fds {}, RLIMIT_NOFILE {}, connections "
            "{} of {}\n",
            f.threads, format_bytes(f.max_rss_bytes.value_or(0)),
            format_bytes(f.peak_anon_bytes.value_or(0)), opt_count(f.peak_fds),
            opt_count(f.nofile_limit), opt_count(f.peak_connections),
            opt_count(f.connection_budget));
    }
    if (f.probe) {
        const auto& p = *f.probe;
        out += fmt::format(
            "tracker latency (probe, {:.0f}/s, {} sent, {} errors): p50 {:.3f} ms  "
            "p99 {:.3f} ms  p999 {:.3f} ms  max {:.3f} ms\n",
            p.rate_per_second, p.sent, p.errors, ms(p.p50_us), ms(p.p99_us), ms(p.p999_us),
            ms(p.max_us));
    }
    if (f.tracker_cpus && f.driver_cpus) {
        out += fmt::format("CPU placement: tracker and probe on CPU {}, the swarm on CPU {}\n",
                           *f.tracker_cpus, *f.driver_cpus);
    }
    if (f.tracker_cpu_seconds) {
        const auto share = tracker_cpu_percent(f);
        out += fmt::format("tracker CPU while the swarm ran: {:.2f} s ({} % of one core)\n",
                           *f.tracker_cpu_seconds, share ? fmt::format("{:.1f}", *share) : "-");
    }
    return out;
}

std::optional<std::string> allowed_cpus(const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(in, line)) {
        constexpr std::string_view key = "Cpus_allowed_list:";
        if (line.starts_with(key)) {
            const auto from = line.find_first_not_of(" \t", key.size());
            return from == std::string::npos ? std::string() : line.substr(from);
        }
    }
    return std::nullopt;
}

std::optional<std::uint64_t> open_descriptors() {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/self/fd", ec);
    if (ec) return std::nullopt;
    std::uint64_t n = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) return std::nullopt;
        ++n;
    }
    return n > 0 ? n - 1 : 0;  // the iterator's own descriptor
}

std::optional<std::uint64_t> anon_rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.starts_with("RssAnon:")) continue;
        // proc(5): "RssAnon:    1234 kB"
        const auto kb = std::strtoull(line.c_str() + 8, nullptr, 10);
        return static_cast<std::uint64_t>(kb) * 1024U;
    }
    return std::nullopt;
}

std::uint64_t peak_rss_bytes() {
    rusage u{};
    if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return static_cast<std::uint64_t>(u.ru_maxrss) * 1024U;  // getrusage(2): kilobytes
}

}  // namespace minibit::loadgen
