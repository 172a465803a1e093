// `minibit-loadgen announce` drivers: one thread, nonblocking sockets, epoll. HTTP keeps C
// keep-alive connections (or one connection per announce); UDP keeps C BEP 15 announces in
// flight on one socket with sendmmsg/recvmmsg, a shared connection id renewed after 60 s, and
// timeout plus retransmission. Both stop issuing at --count or the duration, whichever first.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/announce_options.hpp"
#include "minibit/loadgen/announce_report.hpp"

namespace minibit::loadgen {

using announce_clock = std::chrono::steady_clock;

/// When a run may issue announces and when it must end, however many are still in flight.
struct run_window {
    announce_clock::time_point start;
    announce_clock::time_point issue_until;  ///< start + duration
    announce_clock::time_point end_by;       ///< issue_until + timeout * (retries + 1) + 1 s
    std::uint64_t count = 0;                 ///< 0: no count limit
    double rate = 0;                         ///< announces per second; 0: no pacing

    /// The window for the options, starting now.
    [[nodiscard]] static run_window from(const announce_options& o);
    /// True while another announce may be issued.
    [[nodiscard]] bool may_issue(std::uint64_t issued, announce_clock::time_point now) const {
        return (count == 0 || issued < count) && now < issue_until &&
               (rate == 0 || static_cast<double>(issued) < paced_budget(now));
    }
    /// True once no more announces will be issued (count reached or duration over).
    [[nodiscard]] bool issuing_over(std::uint64_t issued, announce_clock::time_point now) const {
        return (count != 0 && issued >= count) || now >= issue_until;
    }
    /// Announces a paced run may have issued by `now` (one at the start, then `rate` per second).
    [[nodiscard]] double paced_budget(announce_clock::time_point now) const {
        return 1.0 + rate * std::chrono::duration<double>(now - start).count();
    }
};

/// The send times of a paced run with one-at-a-time arrivals (arrival_model even or poisson):
/// the first at the start, then gaps of 1/rate or exponential gaps of that mean (fixed seed, so
/// runs repeat the same pattern).
class arrival_schedule {
public:
    arrival_schedule(arrival_model model, double rate, announce_clock::time_point start);

    /// The time the next announce is due.
    [[nodiscard]] announce_clock::time_point next() const { return next_; }
    /// True when the next announce is due by `now`.
    [[nodiscard]] bool due(announce_clock::time_point now) const { return now >= next_; }
    /// Moves on to the announce after the next one.
    void advance();

private:
    arrival_model model_;
    double mean_gap_s_;
    std::chrono::duration<double> carry_{0};  // fractional time not yet added to next_
    announce_clock::time_point next_;
    std::mt19937_64 random_{0x6d696e6962697421ULL};
    std::exponential_distribution<double> gap_{1.0};
};

/// Microseconds between two instants (0 when negative).
[[nodiscard]] std::uint64_t micros_between(announce_clock::time_point a,
                                           announce_clock::time_point b);

/// Runs the load the options describe against their tracker; start-up failures are errors.
[[nodiscard]] result<announce_report> run_announce(const announce_options& options);

/// The HTTP driver (announce_http.cpp).
[[nodiscard]] result<void> run_http_announces(const announce_options& options,
                                              announce_report& report);

/// The UDP driver (announce_udp.cpp).
[[nodiscard]] result<void> run_udp_announces(const announce_options& options,
                                             announce_report& report);

}  // namespace minibit::loadgen
