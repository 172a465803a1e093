#include "minibit/swarm/connection_budget.hpp"

namespace minibit::swarm {

bool connection_budget::take_below(std::uint32_t ceiling) {
    const bool limited = limit_.load(std::memory_order_relaxed) != 0;
    std::uint32_t now = used_.load(std::memory_order_relaxed);
    while (true) {
        if (limited && now >= ceiling) {
            count_refused();
            return false;
        }
        if (used_.compare_exchange_weak(now, now + 1, std::memory_order_relaxed)) {
            std::uint32_t seen = peak_.load(std::memory_order_relaxed);
            while (seen < now + 1 &&
                   !peak_.compare_exchange_weak(seen, now + 1, std::memory_order_relaxed)) {}
            return true;
        }
    }
}

void connection_budget::give_back(std::uint32_t n) {
    used_.fetch_sub(n, std::memory_order_relaxed);
}

bool connection_budget::dials_refused() const {
    const std::uint32_t limit = limit_.load(std::memory_order_relaxed);
    return limit != 0 && used_.load(std::memory_order_relaxed) >= limit - limit / 2;
}

bool connection_budget::full() const {
    const std::uint32_t limit = limit_.load(std::memory_order_relaxed);
    return limit != 0 && used_.load(std::memory_order_relaxed) >= limit;
}

}  // namespace minibit::swarm
