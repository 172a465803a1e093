#include "spawn_floor.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "../common/flags.hpp"

namespace minibit::loadgen {
namespace {

using clock = std::chrono::steady_clock;

constexpr std::string_view floor_usage = R"(usage: minibit-loadgen floor [FLAGS]

Starts N processes that do nothing and reaps them, through the same spawn path (fork, exec,
own process group, output to a log file) as `swarm`; prints the time of each repetition.

  --processes N   processes per repetition (default 11: a tracker and 10 peers)
  --program PATH  what to run (default /bin/true); --arg A (repeatable) gives its arguments
  --repeat R      repetitions (default 5)
  --logs DIR      where their output goes: DIR/floor.log (default logs)
  --json          one JSON object instead of the table
)";

double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
}

std::string json_list(const std::vector<double>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += fmt::format("{}{:.4f}", i ? "," : "", v[i]);
    return out + "]";
}

// A JSON string for a path: quotes, backslashes and control characters escaped.
std::string json_text(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out + "\"";
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

result<floor_sample> measure_spawn_floor(const spawn_spec& spec, std::uint32_t count,
                                         std::chrono::milliseconds timeout) {
    std::vector<child_process> children;
    children.reserve(count);
    floor_sample sample;
    const auto start = clock::now();
    for (std::uint32_t i = 0; i < count; ++i) {
        auto child = child_process::spawn(spec);
        if (!child) return std::unexpected(child.error());  // the others die in ~child_process
        children.push_back(std::move(*child));
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
    sample.all_succeeded = std::all_of(children.begin(), children.end(), [](const child_process& c) {
        return c.status() && c.status()->success();
    });
    return sample;
}

int cmd_floor(int argc, char** argv) {
    const apps::flags f(argc, argv, 2, {"processes", "program", "arg", "repeat", "logs"},
                        {"json", "help"});
    if (f.has("help")) {
        fmt::print("{}", floor_usage);
        return 0;
    }
    if (!f.positional().empty())
        throw apps::usage_error(fmt::format("unexpected argument '{}'", f.positional()[0]));
    const auto count = static_cast<std::uint32_t>(f.get_uint("processes", 1, 1000).value_or(11));
    const auto repeat = static_cast<std::uint32_t>(f.get_uint("repeat", 1, 1000).value_or(5));
    const std::filesystem::path logs = f.get("logs").value_or("logs");
    std::error_code ec;
    std::filesystem::create_directories(logs, ec);
    const spawn_spec spec{f.get("program").value_or("/bin/true"), f.all("arg"), logs / "floor.log"};
    block_driver_signals();
    std::vector<double> totals;
    std::vector<double> spawns;
    for (std::uint32_t r = 0; r < repeat; ++r) {
        auto s = measure_spawn_floor(spec, count, std::chrono::milliseconds(30'000));
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
    if (f.has("json")) {
        fmt::print("{{\"program\":{},\"processes\":{},\"seconds\":{},\"spawned_seconds\":{},"
                   "\"median_seconds\":{:.4f}}}\n",
                   json_text(spec.program.string()), count, json_list(totals), json_list(spawns),
                   median_of(totals));
    } else {
        for (std::size_t i = 0; i < totals.size(); ++i) {
            fmt::print("{} x {}: all spawned {:.1f} ms, all reaped {:.1f} ms\n", count,
                       spec.program.string(), spawns[i] * 1e3, totals[i] * 1e3);
        }
        fmt::print("median: {:.1f} ms\n", median_of(totals) * 1e3);
    }
    return 0;
}

}  // namespace minibit::loadgen
