// One NFQUEUE of the testbed's delay line: the netlink socket bound in one network namespace
// (a router's), its seeded loss draws, and the verdicts it owes the kernel (drops and one batch
// accept, sent together). Owned and used by one delay_line thread.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

struct mnl_socket;

namespace delayline {

/// Closes a file descriptor when it goes out of scope.
class unique_fd {
public:
    explicit unique_fd(int fd = -1) : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept;
    unique_fd& operator=(unique_fd&& other) noexcept;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd();
    int get() const { return fd_; }

private:
    int fd_;
};

/// Throws std::system_error with errno and `what`.
[[noreturn]] void fail(const std::string& what);

/// CLOCK_MONOTONIC in nanoseconds.
std::int64_t now_ns();

/// How the queue is set up in the kernel.
struct queue_config {
    std::uint16_t queue = 0;      // NFQUEUE number, the same in every namespace
    std::uint32_t maxlen = 4096;  // packets the kernel holds before it drops
    bool gso = true;              // hand over GSO super-packets whole
};

/// A queue's counters for the report; the kernel's two come from /proc at the end.
struct queue_counters {
    std::uint64_t accepted = 0;
    std::uint64_t lost = 0;
    std::uint64_t verdict_sends = 0;
    std::uint64_t queue_dropped = 0;  // the kernel's: queue full
    std::uint64_t user_dropped = 0;   // the kernel's: our socket's buffer full
};

/// One queue; see the file comment.
class netns_queue {
public:
    /// Loss draws come from (seed, index): reproducible per queue whatever the others do.
    netns_queue(std::string netns, double loss_pct, std::uint64_t seed, std::size_t index);
    netns_queue(netns_queue&&) noexcept;
    netns_queue& operator=(netns_queue&&) noexcept;
    ~netns_queue();

    /// Binds and configures the queue in the calling thread's network namespace.
    void bind(const queue_config& config);

    /// The netlink socket to wait on.
    int fd() const;

    /// The namespace's name, for messages and the report.
    const std::string& netns() const { return netns_; }

    /// The queue number.
    std::uint16_t queue() const { return queue_; }

    /// True when the next arriving packet is to be lost (one seeded draw per packet).
    bool draw_loss() { return loss_threshold_ != 0 && rng_() < loss_threshold_; }

    /// Notes a packet to drop; drops go out before the next batch accept (which would take it).
    void drop(std::uint32_t id);

    /// Notes that every packet up to `id` is due.
    void due(std::uint32_t id);

    /// Sends the pending drop verdicts and, if packets are due, one batch accept; one sendmsg.
    void flush();

    /// The counters, with the kernel's drops read from /proc for this namespace's queue.
    queue_counters counters();

private:
    struct nl_close {
        void operator()(mnl_socket* s) const;
    };
    std::string netns_;
    std::uint16_t queue_ = 0;
    std::unique_ptr<mnl_socket, nl_close> nl_;
    std::ifstream proc_;  // opened inside the namespace, read at the end
    std::mt19937_64 rng_;
    std::uint64_t loss_threshold_ = 0;  // a draw below it loses the packet: p * 2^64
    std::vector<std::uint32_t> drops_;
    std::vector<char> send_buf_;
    std::uint32_t release_id_ = 0;
    bool pending_release_ = false;
    queue_counters counters_;
};

}  // namespace delayline
