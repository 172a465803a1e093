// A transfer-rate meter: bytes per second over a sliding window of one-second buckets, with the
// time passed in by the caller (the reactor's now()), so tests need no clock. Owned by one
// peer connection or torrent; one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace minibit::swarm {

/// Bytes per second over the last few seconds.
class rate_meter {
public:
    using clock = std::chrono::steady_clock;
    /// Window length in one-second buckets; 5 s smooths TCP bursts without hiding a stall long.
    static constexpr std::size_t window_seconds = 5;

    /// Counts `bytes` transferred at `now`.
    void add(std::uint64_t bytes, clock::time_point now);
    /// Average bytes per second over the window ending at `now`.
    [[nodiscard]] double rate(clock::time_point now) const;
    /// Bytes counted since construction.
    [[nodiscard]] std::uint64_t total() const { return total_; }

private:
    void advance(std::int64_t second);

    std::array<std::uint64_t, window_seconds> buckets_{};
    std::int64_t current_second_ = -1;  ///< second of the newest bucket, -1 before the first add
    std::int64_t first_second_ = -1;    ///< second of the first add, to avoid diluting a new meter
    std::uint64_t total_ = 0;
};

}  // namespace minibit::swarm
