// A limit on connections shared by many torrents (an agent's --max-connections): each torrent
// takes a unit before it dials or adopts a connection and gives it back when the connection
// ends (or the dial fails). A dial may take a unit only while half the limit is left for peers
// that dial us: when the peers at both ends of each connection share one budget (in-process
// load-generator peers), dials that filled it would leave no unit to accept them, every dial
// would be refused at the far end and redialled, and no connection would ever form; and an
// agent whose budget is all its own dials could take no incoming peer. The count is atomic, so torrents on several reactor threads may
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

    /// Takes one unit for an accepted peer; false (and counted as refused) at the limit.
    [[nodiscard]] bool try_take() { return take_below(limit_.load(std::memory_order_relaxed)); }
    /// Takes one unit for a dial: false while fewer than half the limit's units are free.
    [[nodiscard]] bool try_take_dial() {
        const std::uint32_t limit = limit_.load(std::memory_order_relaxed);
        return take_below(limit - limit / 2);
    }
    /// Gives back `n` units taken before.
    void give_back(std::uint32_t n = 1);
    /// Changes the limit; connections above a lowered limit stay, new ones wait.
    void set_limit(std::uint32_t limit) { limit_.store(limit, std::memory_order_relaxed); }
    [[nodiscard]] std::uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
    /// Units taken now (connections open or being dialled).
    [[nodiscard]] std::uint32_t used() const { return used_.load(std::memory_order_relaxed); }
    /// Most units ever taken at once.
    [[nodiscard]] std::uint32_t peak() const { return peak_.load(std::memory_order_relaxed); }
    /// True while try_take_dial() would refuse.
    [[nodiscard]] bool dials_refused() const;
    /// True when no unit is left.
    [[nodiscard]] bool full() const;
    /// Connections refused at a limit (this one, and those counted with count_refused()).
    [[nodiscard]] std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
    /// Counts a connection refused at a limit without try_take() (at accept, or at a
    /// torrent's own max_peers), so one counter holds every refusal.
    void count_refused() { refused_.fetch_add(1, std::memory_order_relaxed); }

private:
    /// Takes a unit while fewer than `ceiling` are taken (no limit at all: always).
    [[nodiscard]] bool take_below(std::uint32_t ceiling);

    std::atomic<std::uint32_t> limit_;
    std::atomic<std::uint32_t> used_{0};
    std::atomic<std::uint32_t> peak_{0};
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace minibit::swarm
