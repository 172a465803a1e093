// The testbed's delay line loop: one thread serving a set of queues. It holds every packet
// for the one-way delay in one FIFO (the delay is the same for all, so arrival order is due order)
// and releases what is due with one batch accept per queue. Idle it sleeps in epoll; busy it wakes
// once per tick on a fixed grid, so wake-ups are bounded however many packets flow. Each instance
// is owned and run by one thread; threads share nothing but the stop eventfd.
#pragma once

#include "netns_queue.hpp"

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

struct nlattr;

namespace delayline {

/// How late packets left against arrival + delay, in 10 us steps from -1 ms to +99 ms (the ends
/// collect everything beyond), for the report's percentiles.
class lateness_histogram {
public:
    /// Counts one packet that left `late_ns` after arrival + delay (negative: early).
    void add(std::int64_t late_ns);

    /// Adds another histogram's counts (threads' histograms into one report).
    void merge(const lateness_histogram& other);

    /// The q-quantile in microseconds (bucket resolution).
    double quantile_us(double q) const;

    /// The latest release seen, in microseconds.
    double max_us() const { return static_cast<double>(max_ns_) / 1000.0; }

private:
    static constexpr std::int64_t step_ns = 10'000;
    static constexpr std::int64_t offset_ns = 1'000'000;
    static constexpr std::size_t buckets = 10'000;
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::int64_t max_ns_ = 0;
};

/// Totals of one loop, merged over threads for the report.
struct loop_counters {
    std::uint64_t wakeups = 0;
    std::uint64_t packets = 0;
    std::uint64_t stamped = 0;         // arrival time from the kernel's timestamp
    std::uint64_t held_max = 0;        // most packets held at once
    std::int64_t poll_gap_max_ns = 0;  // longest busy interval between two polls
};

/// One thread's loop; see the file comment.
class delay_line {
public:
    /// Serves `queues` (bound already) with `delay_ns` of delay, polling every `tick_ns` while
    /// busy, until `stop_fd` (an eventfd) becomes readable.
    delay_line(std::vector<netns_queue*> queues, std::int64_t delay_ns, std::int64_t tick_ns,
               int stop_fd);

    /// Runs until the stop eventfd is signalled.
    void run();

    /// This loop's totals.
    const loop_counters& counters() const { return counters_; }

    /// This loop's lateness histogram.
    const lateness_histogram& lateness() const { return late_; }

private:
    static constexpr std::size_t recv_batch = 64;           // notices per recvmmsg
    static constexpr std::size_t recv_buffer_bytes = 1024;  // a COPY_META notice is ~150 bytes

    void watch(int fd, std::uint64_t key);
    void sleep_until_next_tick() const;
    void receive(std::uint32_t h, std::int64_t guess, std::int64_t now);
    void on_datagram(std::uint32_t h, const char* data, std::size_t len, std::int64_t guess,
                     std::int64_t now);
    std::int64_t arrival(const nlattr* stamp, std::int64_t guess, std::int64_t now);
    void release(std::int64_t now);

    /// A packet being held: when it arrived, whose queue it is in, and its id there.
    struct held_packet {
        std::int64_t arrived_ns;
        std::uint32_t queue;
        std::uint32_t id;
    };

    std::vector<netns_queue*> queues_;
    std::int64_t delay_ns_;
    std::int64_t tick_ns_;
    std::int64_t real_minus_mono_ns_;  // turns the kernel's CLOCK_REALTIME stamps into ours
    std::int64_t clocks_read_ns_;      // when real_minus_mono_ns_ was last read
    unique_fd epoll_;
    std::deque<held_packet> fifo_;
    std::array<std::array<char, recv_buffer_bytes>, recv_batch> bufs_{};
    std::array<iovec, recv_batch> iov_{};
    std::array<mmsghdr, recv_batch> msgs_{};
    lateness_histogram late_;
    loop_counters counters_;
};

}  // namespace delayline
