// swarm_shard's entry points for peers learnt elsewhere (state files, other tracker instances):
// merge keeps the newer of two records and exact counters, ignores expired entries, forget
// removes, and merged peers age and expire like announced ones.
#include <gtest/gtest.h>

#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

info_hash hash_n(std::uint8_t n) {
    info_hash h;
    h.bytes.fill(n);
    return h;
}

peer_entry v4(std::uint8_t host, bool seeder, seconds age) {
    peer_entry e;
    e.peer.address = {10, 0, 0, host};
    e.peer.port = 6881;
    e.seeder = seeder;
    e.age = age;
    return e;
}

class SwarmMerge : public testing::Test {
protected:
    table_config config_;  // peer timeout 3660 s
    swarm_shard shard_{config_, 7};
    const seconds now_{100000};
};

TEST_F(SwarmMerge, AddsPeersWithExactCounters) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, true, seconds(0)), now_));
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(2, false, seconds(60)), now_));
    ASSERT_TRUE(shard_.merge(hash_n(2), v4(1, false, seconds(0)), now_));
    EXPECT_EQ(shard_.peer_count(), 3U);
    EXPECT_EQ(shard_.seeder_count(), 1U);
    EXPECT_EQ(shard_.torrent_count(), 2U);
    const swarm_counts c = shard_.scrape(hash_n(1));
    EXPECT_EQ(c.complete, 1U);
    EXPECT_EQ(c.incomplete, 1U);
    EXPECT_EQ(c.downloaded, 0U) << "a merge is no completed download";
}

TEST_F(SwarmMerge, KeepsTheNewerOfTwoRecords) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, seconds(16)), now_));
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, true, seconds(800)), now_));  // older: ignored
    EXPECT_EQ(shard_.seeder_count(), 0U);
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, true, seconds(0)), now_));  // newer: taken
    EXPECT_EQ(shard_.seeder_count(), 1U);
    EXPECT_EQ(shard_.peer_count(), 1U);
}

TEST_F(SwarmMerge, AnAnnounceHereIsNotOverwrittenByAnOlderMerge) {
    announce_input in;
    in.hash = hash_n(1);
    in.peer = v4(1, false, seconds(0)).peer;
    in.left = 0;
    std::vector<std::uint8_t> p4;
    std::vector<std::uint8_t> p6;
    ASSERT_TRUE(shard_.announce(in, now_, p4, p6));
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, seconds(100)), now_));
    EXPECT_EQ(shard_.seeder_count(), 1U);
}

TEST_F(SwarmMerge, IgnoresEntriesOlderThanThePeerTimeout) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, config_.peer_timeout + seconds(1)), now_));
    EXPECT_EQ(shard_.peer_count(), 0U);
    EXPECT_EQ(shard_.torrent_count(), 0U);
}

TEST_F(SwarmMerge, MergedPeersExpireByTheirAge) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, seconds(3600)), now_));
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(2, false, seconds(0)), now_));
    EXPECT_EQ(shard_.expire(now_ + seconds(200), 16), 1U) << "the old one passes 3660 s";
    EXPECT_EQ(shard_.peer_count(), 1U);
    EXPECT_EQ(shard_.expire(now_ + seconds(3700), 16), 1U);
    EXPECT_EQ(shard_.torrent_count(), 0U);
}

TEST_F(SwarmMerge, AgeOfReadsBackTheMergedAgeToTheTick) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, seconds(1000)), now_));
    std::uint16_t stamp = 0;
    shard_.for_each_swarm([&](const info_hash&, const swarm& s) {
        for (std::size_t i = 0; i < s.v4.capacity(); ++i) {
            if (!s.v4.at(i).empty()) stamp = s.v4.at(i).stamp();
        }
    });
    const auto age = swarm_shard::age_of(stamp, now_);
    EXPECT_GE(age.count(), 1000 - stamp_tick_seconds);
    EXPECT_LE(age.count(), 1000 + stamp_tick_seconds);
}

TEST_F(SwarmMerge, ForgetRemovesAPeerAndKeepsCountersExact) {
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, true, seconds(0)), now_));
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(2, false, seconds(0)), now_));
    shard_.forget(hash_n(1), v4(1, true, seconds(0)).peer);
    shard_.forget(hash_n(1), v4(9, true, seconds(0)).peer);  // unknown: no-op
    shard_.forget(hash_n(5), v4(2, true, seconds(0)).peer);  // unknown swarm: no-op
    EXPECT_EQ(shard_.peer_count(), 1U);
    EXPECT_EQ(shard_.seeder_count(), 0U);
}

TEST_F(SwarmMerge, AddDownloadedCountsOnKnownSwarmsOnly) {
    shard_.add_downloaded(hash_n(1), 3);
    EXPECT_EQ(shard_.torrent_count(), 0U);
    ASSERT_TRUE(shard_.merge(hash_n(1), v4(1, false, seconds(0)), now_));
    shard_.add_downloaded(hash_n(1), 3);
    EXPECT_EQ(shard_.scrape(hash_n(1)).downloaded, 3U);
}

TEST_F(SwarmMerge, RefusesNewSwarmsInAFullShard) {
    table_config small = config_;
    small.max_torrents_per_shard = 1;
    swarm_shard s(small, 1);
    ASSERT_TRUE(s.merge(hash_n(1), v4(1, false, seconds(0)), now_));
    EXPECT_FALSE(s.merge(hash_n(2), v4(1, false, seconds(0)), now_));
    EXPECT_TRUE(s.merge(hash_n(1), v4(2, false, seconds(0)), now_));
}

}  // namespace
}  // namespace minibit::tracker
