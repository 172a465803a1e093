// A limit on connections shared by many torrents (an agent's --max-connections): each torrent
// takes a unit before it dials or adopts a connection and gives it back when the connection
// ends (or the dial fails). The count is atomic, so torrents on several reactor threads may
// share one budget. Any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace minibit::swarm {

/// Connections at most across every torrent holding this budget.
class connection_budget {
public:
    /// `limit` connections at most (0: no limit, only counted).
    explicit connection_budget(std::uint32_t limit) : limit_(limit) {}

    /// Takes one unit; false (and counted as refused) when the limit is reached.
    [[nodiscard]] bool try_take();
    /// Gives back `n` units taken before.
    void give_back(std::uint32_t n = 1);
    /// Changes the limit; connections above a lowered limit stay, new ones wait.
    void set_limit(std::uint32_t limit) { limit_.store(limit, std::memory_order_relaxed); }
    [[nodiscard]] std::uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
    /// Units taken now (connections open or being dialled).
    [[nodiscard]] std::uint32_t used() const { return used_.load(std::memory_order_relaxed); }
    /// Most units ever taken at once.
    [[nodiscard]] std::uint32_t peak() const { return peak_.load(std::memory_order_relaxed); }
    /// True when no unit is left.
    [[nodiscard]] bool full() const;
    /// Connections refused at a limit (this one, and those counted with count_refused()).
    [[nodiscard]] std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
    /// Counts a connection refused at a limit without try_take() (at accept, or at a
    /// torrent's own max_peers), so one counter holds every refusal.
    void count_refused() { refused_.fetch_add(1, std::memory_order_relaxed); }

private:
    std::atomic<std::uint32_t> limit_;
    std::atomic<std::uint32_t> used_{0};
    std::atomic<std::uint32_t> peak_{0};
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace minibit::swarm
