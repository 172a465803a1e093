// The connection budget shared by an agent's torrents: never more units out than the limit,
// also when several threads take and give back at once; refusals counted; a lowered limit
// lets the connections above it stay and refuses new ones; dials leave half the limit for
// accepted peers; the scrape URL convention.
#include "minibit/swarm/connection_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "minibit/swarm/tracker_scrape.hpp"

namespace minibit::swarm {
namespace {

TEST(ConnectionBudget, RefusesPastTheLimitAndCountsTheRefusals) {
    connection_budget b(2);
    EXPECT_TRUE(b.try_take());
    EXPECT_TRUE(b.try_take());
    EXPECT_TRUE(b.full());
    EXPECT_FALSE(b.try_take());
    EXPECT_EQ(b.refused(), 1U);
    b.give_back();
    EXPECT_FALSE(b.full());
    EXPECT_TRUE(b.try_take());
    EXPECT_EQ(b.used(), 2U);
}

TEST(ConnectionBudget, ZeroMeansNoLimitButStillCounts) {
    connection_budget b(0);
    for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.try_take());
    EXPECT_FALSE(b.full());
    EXPECT_EQ(b.used(), 1000U);
}

TEST(ConnectionBudget, ALoweredLimitKeepsWhatIsOpenAndRefusesNewOnes) {
    connection_budget b(4);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.try_take());
    b.set_limit(2);
    EXPECT_EQ(b.used(), 4U);
    EXPECT_FALSE(b.try_take());
    b.give_back(3);
    EXPECT_TRUE(b.try_take());
    EXPECT_FALSE(b.try_take());
}

TEST(ConnectionBudget, DialsLeaveHalfTheLimitForPeersThatDialUs) {
    // When both ends of every connection share the budget (in-process peers), dials that
    // took it all would leave nothing to accept them with, and no connection would form.
    connection_budget b(280);
    int dials = 0;
    while (b.try_take_dial() && dials < 1000) ++dials;
    EXPECT_EQ(dials, 140);
    EXPECT_EQ(b.refused(), 1U);
    int accepted = 0;
    while (b.try_take() && accepted < 1000) ++accepted;
    EXPECT_EQ(accepted, 140);
    EXPECT_TRUE(b.full());
    // A limit of one still lets a lone leecher dial its seed; no limit never refuses a dial.
    connection_budget one(1);
    EXPECT_TRUE(one.try_take_dial());
    EXPECT_FALSE(one.try_take());
    connection_budget none(0);
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(none.try_take_dial());
}

TEST(ConnectionBudget, ThreadsTakingAtOnceNeverExceedTheLimit) {
    constexpr std::uint32_t limit = 8;
    connection_budget b(limit);
    std::atomic<std::uint32_t> most{0};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (!b.try_take()) continue;
                const auto now = b.used();
                auto seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {}
                b.give_back();
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_LE(most.load(), limit);
    EXPECT_EQ(b.used(), 0U);
}

TEST(ScrapeUrl, FollowsTheAnnounceConventionAndRefusesOthers) {
    info_hash h{};
    h.bytes.fill(0xAB);
    const auto url = scrape_url("http://t.example:6969/announce", h);
    ASSERT_TRUE(url.has_value());
    EXPECT_TRUE(url->starts_with("http://t.example:6969/scrape?info_hash=%AB")) << *url;
    EXPECT_NE(url->find("%AB%AB"), std::string::npos);
    EXPECT_TRUE(scrape_url("https://t/x/announce.php?key=1", h)
                    ->starts_with("https://t/x/scrape.php?key=1&info_hash=%AB"));
    EXPECT_FALSE(scrape_url("http://t/tracker", h).has_value());
    EXPECT_FALSE(scrape_url("udp://t:6969/announce", h).has_value());
}

}  // namespace
}  // namespace minibit::swarm
