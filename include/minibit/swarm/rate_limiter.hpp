// Rate caps: a token bucket that several reactor threads share without a lock (one atomic
// "theoretical arrival time", GCRA), and the set of buckets a torrent's connections charge
// (the torrent's own cap and the program's global one, per direction). Bytes are charged after
// the fact and may overdraw the bucket; a connection that finds it in debt stops sending (or
// reading) and retries by a timer when the debt is paid. Any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace minibit::swarm {

/// A token bucket in bytes per second; rate 0 means no cap.
class rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    explicit rate_limiter(std::uint64_t bytes_per_second = 0) : rate_(bytes_per_second) {}
    rate_limiter(const rate_limiter&) = delete;
    rate_limiter& operator=(const rate_limiter&) = delete;

    /// Changes the cap (0: none); a debt under the old cap is forgiven.
    void set_rate(std::uint64_t bytes_per_second);
    /// The cap in bytes per second (0: none).
    [[nodiscard]] std::uint64_t rate() const { return rate_.load(std::memory_order_relaxed); }
    /// Takes `bytes` out of the bucket, overdrawing it if need be.
    void charge(std::uint64_t bytes, clock::time_point now);
    /// How long until the bucket is out of debt (zero: bytes may flow now).
    [[nodiscard]] std::chrono::nanoseconds wait(clock::time_point now) const;

    /// Bytes a full bucket holds, as time at the cap: bursts after an idle spell are this short.
    static constexpr std::chrono::milliseconds burst{100};

private:
    std::atomic<std::uint64_t> rate_;
    /// When the bucket is out of debt, in nanoseconds of `clock`; before `now - burst`: full.
    std::atomic<std::int64_t> paid_until_{0};
};

/// The buckets one direction of a torrent's traffic goes through (the torrent's, the global).
using limiter_set = std::array<std::shared_ptr<rate_limiter>, 2>;

/// The caps of one torrent: upload (blocks we serve) and download (bytes we read).
struct transfer_limits {
    limiter_set upload;
    limiter_set download;
};

/// The longest wait of any bucket in `set` (zero: go).
[[nodiscard]] std::chrono::nanoseconds limiter_wait(const limiter_set& set,
                                                    rate_limiter::clock::time_point now);
/// Charges `bytes` to every bucket in `set`.
void limiter_charge(const limiter_set& set, std::uint64_t bytes,
                    rate_limiter::clock::time_point now);

}  // namespace minibit::swarm
