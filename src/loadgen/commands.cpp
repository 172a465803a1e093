#include "minibit/loadgen/commands.hpp"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "announce_driver.hpp"
#include "cpu_affinity.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/loadgen/child_process.hpp"
#include "open_files.hpp"
#include "report_json.hpp"
#include "swarm_driver.hpp"

namespace minibit::loadgen {
namespace {

constexpr std::chrono::milliseconds floor_timeout{30'000};

// The program `name` in the folder of this one.
result<std::filesystem::path> next_to_self(std::string_view name) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return fail(loadgen_errc::io,
                    "cannot read /proc/self/exe; give --tracker-bin and --peer-bin");
    }
    return self.parent_path() / name;
}

// The swarm's problems and its exit status: 0 success, 1 failure, 128+N stopped by signal N.
int swarm_exit(const swarm_report& report, const swarm_options& options) {
    if (report.stop_signal != 0) {
        fmt::print(stderr,
                   "minibit-loadgen: stopped by signal {}; every process it started was killed\n",
                   report.stop_signal);
        return 128 + report.stop_signal;
    }
    if (!report.failure.empty()) {
        fmt::print(stderr, "minibit-loadgen: {}\n", report.failure);
    } else if (report.timed_out) {
        fmt::print(stderr,
                   "minibit-loadgen: timeout after {} s: {}/{} peers rebuilt the file; killed "
                   "every process it started\n",
                   std::chrono::duration<double>(options.timeout).count(), report.rebuilt(),
                   report.expected());
    } else if (!report.success()) {
        fmt::print(stderr, "minibit-loadgen: swarm failed: {}/{} files rebuilt and identical\n",
                   report.rebuilt(), report.expected());
    }
    return report.success() ? 0 : 1;
}

}  // namespace

int swarm_command(swarm_options options, report_format format) {
    for (auto [bin, name] : {std::pair{&options.tracker_bin, "minibit-tracker"},
                             std::pair{&options.peer_bin, "minibit-peer"}}) {
        if (!bin->empty()) continue;
        auto found = next_to_self(name);
        if (!found) {
            fmt::print(stderr, "minibit-loadgen: {}\n", found.error().reason);
            return 2;
        }
        *bin = *found;
    }
    if (options.tracker_cpu) {
        if (auto problem = cpu_placement_problem(*options.tracker_cpu)) {
            fmt::print(stderr, "minibit-loadgen: --tracker-cpu: {}\n", *problem);
            return 2;
        }
    }
    if (options.hosting == peer_hosting::in_process) {
        auto fit = fit_open_files(options);
        if (!fit) {
            fmt::print(stderr, "minibit-loadgen: {}\n", fit.error().reason);
            return 2;
        }
        if (fit->note) fmt::print(stderr, "minibit-loadgen: {}\n", *fit->note);
        options.max_peers = fit->max_peers;
    }
    block_driver_signals();
    swarm_driver driver(options);
    const swarm_report report = driver.run();
    if (format == report_format::json) {
        fmt::print("{}\n", format_json(report));
    } else if (!report.peers.empty()) {
        fmt::print("{}", format_table(report));
    }
    std::fflush(stdout);
    return swarm_exit(report, options);
}

int announce_command(const announce_options& options, report_format format) {
    if (!options.info_hashes_file.empty()) {
        auto written = write_info_hashes(options.info_hashes_file, options.torrents);
        if (!written) {
            fmt::print(stderr, "minibit-loadgen: {}\n", written.error().message());
            return 1;
        }
        if (options.url.empty()) return 0;
    }
    auto report = run_announce(options);
    if (!report) {
        fmt::print(stderr, "minibit-loadgen: {}\n", report.error().message());
        return 1;
    }
    if (format == report_format::json) {
        fmt::print("{}\n", format_json(*report));
    } else {
        fmt::print("{}", format_text(*report));
    }
    std::fflush(stdout);
    return report->error_total() == 0 && report->answered > 0 ? 0 : 1;
}

int floor_command(const floor_options& options, report_format format) {
    std::error_code ec;
    std::filesystem::create_directories(options.log_dir, ec);
    const spawn_spec spec{options.program, options.args, options.log_dir / "floor.log"};
    block_driver_signals();
    floor_report report{options.program, options.processes, {}, {}};
    auto& totals = report.seconds;
    auto& spawns = report.spawned_seconds;
    for (std::uint32_t r = 0; r < options.repeat; ++r) {
        auto s = measure_spawn_floor(spec, options.processes, floor_timeout);
        if (!s) {
            fmt::print(stderr, "minibit-loadgen: floor: {}\n", s.error().message());
            return 1;
        }
        if (!s->all_succeeded) {
            fmt::print(stderr, "minibit-loadgen: floor: {} did not exit 0; see {}\n",
                       spec.program.string(), spec.output.string());
            return 1;
        }
        totals.push_back(s->total_seconds);
        spawns.push_back(s->spawned_seconds);
    }
    if (format == report_format::json) {
        fmt::print("{}\n", format_json(report));
    } else {
        for (std::size_t i = 0; i < totals.size(); ++i) {
            fmt::print("{} x {}: all spawned {:.1f} ms, all reaped {:.1f} ms\n", options.processes,
                       spec.program.string(), spawns[i] * 1e3, totals[i] * 1e3);
        }
        fmt::print("median: {:.1f} ms\n", median_of(totals) * 1e3);
    }
    return 0;
}

}  // namespace minibit::loadgen
