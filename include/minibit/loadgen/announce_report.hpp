// What `minibit-loadgen announce` measured: announces answered per event, latency histogram
// (microseconds, log-linear buckets, <0.2% error), errors by kind and failure reasons, and the
// short text rendering (the JSON one is private to the loadgen). Value types; owned by one
// driver thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/loadgen/announce_options.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::loadgen {

/// Latencies in microseconds: exact below 1024 us, then 512 buckets per power of two.
class latency_histogram {
public:
    latency_histogram();
    /// Records one latency.
    void add(std::uint64_t micros);
    /// The value at quantile q in [0, 1] (bucket lower bound); 0 when empty.
    [[nodiscard]] std::uint64_t quantile(double q) const;
    /// Samples recorded.
    [[nodiscard]] std::uint64_t count() const { return count_; }
    /// Largest sample recorded.
    [[nodiscard]] std::uint64_t max() const { return max_; }

private:
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
};

/// Error kinds a run counts.
enum class announce_error_kind : std::uint8_t {
    timeout,           ///< no answer within the timeout (after UDP retries)
    failure,           ///< the tracker answered with a failure reason or a BEP 15 error
    bad_response,      ///< an answer we could not parse, or an HTTP status other than 200
    connection_error,  ///< connect refused, reset, or closed before the answer
};
inline constexpr std::size_t announce_error_kinds = 4;

/// Distinct failure reasons kept; further ones are counted under "(other)".
inline constexpr std::size_t max_failure_reasons = 32;

/// The outcome of one run.
struct announce_report {
    announce_options options;
    std::uint64_t sent = 0;                 ///< announces issued (not counting retries)
    std::uint64_t answered = 0;             ///< announces with a good answer
    std::array<std::uint64_t, 4> events{};  ///< answered, by wire::announce_event
    std::array<std::uint64_t, announce_error_kinds> errors{};
    std::map<std::string, std::uint64_t> failure_reasons;
    std::uint64_t peers_received = 0;  ///< peer records in all answers
    std::uint64_t retransmits = 0;     ///< UDP announces sent again after a timeout
    std::uint64_t connects = 0;        ///< UDP connect answers / TCP connections opened
    std::uint64_t stale_retries = 0;   ///< HTTP resends after a kept-alive close
    latency_histogram latency;
    /// UDP with --arrivals even/poisson: how late each first send was against its schedule.
    latency_histogram send_lag;
    double cpu_ms = 0;             ///< the driver thread's CPU time (Linux schedstat)
    double run_queue_wait_ms = 0;  ///< time it was runnable but waited for a CPU
    double seconds = 0;            ///< from the first send to the last completion
    std::string ended_by;          ///< "count" or "duration"

    /// Records a good answer.
    void ok(wire::announce_event event, std::uint64_t micros, std::uint64_t peers);
    /// Records an error of one kind; `reason` is kept for failures.
    void error(announce_error_kind kind, std::string_view reason = {});
    /// All errors.
    [[nodiscard]] std::uint64_t error_total() const;
    /// Answered announces per second.
    [[nodiscard]] double rate() const;
};

/// The report as a few human-readable lines.
[[nodiscard]] std::string format_text(const announce_report& report);

}  // namespace minibit::loadgen
