// The reactors' slot table (src/io/reactor_base.hpp): slots are reused, ids carry a generation
// so a stale id is refused, and the table's invariants hold after every acquire and release.
#include "reactor_base.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace {

using minibit::io::sock_state;
using table = minibit::io::slot_table<sock_state>;

TEST(SlotTable, AReleasedSlotIsReusedAndItsOldIdGoesStale) {
    table t;
    const auto [slot, state] = t.acquire();
    state->fd = 7;
    const std::uint64_t old_id = table::make_id(slot, state->generation);
    ASSERT_EQ(t.find(old_id), state);
    t.release(slot);
    t.check_invariants();
    EXPECT_EQ(t.find(old_id), nullptr);
    EXPECT_EQ(t.at(slot), nullptr);

    const auto [again, fresh] = t.acquire();
    t.check_invariants();
    EXPECT_EQ(again, slot);
    EXPECT_EQ(fresh->fd, -1) << "a reused slot starts from a fresh state";
    EXPECT_EQ(t.find(old_id), nullptr) << "the new generation must not match the old id";
    EXPECT_EQ(t.find(table::make_id(again, fresh->generation)), fresh);
}

TEST(SlotTable, ReleasingAFreeOrUnknownSlotChangesNothing) {
    table t;
    const auto [slot, state] = t.acquire();
    t.release(slot);
    t.release(slot);
    t.release(99);
    t.check_invariants();
    EXPECT_EQ(t.live(), 0U);
    const auto [a, sa] = t.acquire();
    const auto [b, sb] = t.acquire();
    t.check_invariants();
    EXPECT_NE(a, b) << "a double release must not put a slot on the free list twice";
    EXPECT_EQ(t.live(), 2U);
}

TEST(SlotTable, InvariantsHoldThroughARandomRunAndMatchAModel) {
    table t;
    std::mt19937 rng(1234);
    std::map<std::uint32_t, std::uint64_t> model;  // live slot -> its id
    for (int step = 0; step < 2000; ++step) {
        if (model.empty() || rng() % 3 != 0) {
            const auto [slot, state] = t.acquire();
            ASSERT_FALSE(model.contains(slot)) << "a live slot handed out twice";
            model[slot] = table::make_id(slot, state->generation);
        } else {
            auto it = model.begin();
            std::advance(it, static_cast<long>(rng() % model.size()));
            t.release(it->first);
            EXPECT_EQ(t.find(it->second), nullptr);
            model.erase(it);
        }
        t.check_invariants();
        ASSERT_EQ(t.live(), model.size());
    }
    std::size_t visited = 0;
    t.for_each([&](std::uint32_t slot, sock_state& s) {
        ++visited;
        EXPECT_EQ(t.find(model.at(slot)), &s);
    });
    EXPECT_EQ(visited, model.size());
}

}  // namespace
