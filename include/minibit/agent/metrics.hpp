// The agent's metrics in the Prometheus text format (version 0.0.4): agent-wide and per-torrent
// counters and gauges, and the API's request-latency histogram (per route) that the API
// handler fills. Reactor thread of the agent.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace minibit::agent {

class agent;

/// Request latencies of the control API, per route, in fixed buckets.
class latency_histogram {
public:
    /// Upper bounds of the buckets in seconds (+Inf is implied).
    static constexpr std::array<double, 11> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   1.0};

    /// Counts one request of `route` that took `seconds`.
    void observe(std::string_view route, double seconds);
    /// The histogram in the text format, named `name`.
    [[nodiscard]] std::string render(std::string_view name) const;

private:
    struct series {
        std::array<std::uint64_t, bounds.size()> buckets{};  ///< not cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };
    std::map<std::string, series, std::less<>> routes_;
};

/// Everything GET /metrics shows.
[[nodiscard]] std::string render_metrics(const agent& a, const latency_histogram& latency);

}  // namespace minibit::agent
