#include "minibit/tracker/rollout_table.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

namespace minibit::tracker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using wire::announce_event;

info_hash hash_n(std::uint8_t n) {
    info_hash h;
    h.bytes.fill(n);
    return h;
}

announce_input peer(std::uint8_t host, std::uint64_t left, announce_event ev = announce_event::none,
                    std::uint8_t torrent = 1) {
    announce_input in;
    in.hash = hash_n(torrent);
    in.peer.address = {10, 0, 0, host};
    in.peer.port = 6881;
    in.left = left;
    in.event = ev;
    return in;
}

rollout_config small_config() {
    rollout_config c;
    c.straggler_after = seconds(30);
    c.forget_after = seconds(600);
    c.shards = 4;
    return c;
}

TEST(RolloutTable, CountsALeecherThatBecomesASeedAsOneCompletionWithItsTime) {
    rollout_table t(small_config());
    t.record(peer(1, 1000, announce_event::started), milliseconds(10'000));
    t.record(peer(1, 0, announce_event::completed), milliseconds(12'500));
    t.record(peer(1, 0), milliseconds(13'000));  // a later re-announce counts nothing
    const auto d = t.detail(hash_n(1), milliseconds(14'000));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->summary.completed, 1U);
    EXPECT_EQ(d->summary.downloading, 0U);
    EXPECT_EQ(d->summary.times.count, 1U);
    EXPECT_EQ(d->summary.times.max, 2500);
    EXPECT_EQ(d->summary.since_first_seen, milliseconds(4000));
    EXPECT_EQ(t.peer_count(), 0U);  // the completed peer's record is gone
}

TEST(RolloutTable, CountsLeftReachingZeroWithoutACompletedEvent) {
    rollout_table t(small_config());
    t.record(peer(2, 500), milliseconds(0));
    t.record(peer(2, 0), milliseconds(700));
    EXPECT_EQ(t.list(milliseconds(800)).at(0).completed, 1U);
}

TEST(RolloutTable, DoesNotCountAPeerFirstSeenAsASeed) {
    rollout_table t(small_config());
    t.record(peer(9, 0, announce_event::started), milliseconds(0));     // the origin
    t.record(peer(8, 0, announce_event::completed), milliseconds(10));  // no prior record
    const auto all = t.list(milliseconds(20));
    ASSERT_EQ(all.size(), 1U);
    EXPECT_EQ(all[0].completed, 0U);
    EXPECT_EQ(all[0].downloading, 0U);
}

TEST(RolloutTable, FlagsAPeerWhoseLeftStopsFallingAsAStraggler) {
    rollout_table t(small_config());
    t.record(peer(1, 1000), milliseconds(0));
    t.record(peer(2, 1000), milliseconds(0));
    t.record(peer(1, 900), milliseconds(20'000));
    t.record(peer(2, 1000), milliseconds(20'000));  // same left: no progress
    t.record(peer(1, 800), milliseconds(40'000));
    t.record(peer(2, 1000), milliseconds(40'000));
    const auto d = t.detail(hash_n(1), milliseconds(40'000));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->summary.stragglers, 1U);
    ASSERT_EQ(d->stragglers.size(), 1U);
    EXPECT_EQ(d->stragglers[0].peer.address[3], 2);
    EXPECT_EQ(d->stragglers[0].left, 1000U);
    EXPECT_EQ(d->stragglers[0].since_progress, milliseconds(40'000));
    // Progress clears the flag.
    t.record(peer(2, 10), milliseconds(41'000));
    EXPECT_EQ(t.list(milliseconds(41'000)).at(0).stragglers, 0U);
}

TEST(RolloutTable, CountsAStoppedOrSilentDownloaderAsGone) {
    rollout_table t(small_config());
    t.record(peer(1, 100), milliseconds(0));
    t.record(peer(2, 100), milliseconds(0));
    t.record(peer(1, 50, announce_event::stopped), milliseconds(1000));
    t.expire(0, 1, milliseconds(601'000));
    // The torrent itself is idle past forget_after too and has no expectation: dropped.
    EXPECT_TRUE(t.list(milliseconds(601'000)).empty());
    EXPECT_EQ(t.peer_count(), 0U);
    EXPECT_EQ(t.torrent_count(), 0U);
}

TEST(RolloutTable, ForgetsEachSilentDownloaderWhenItsOwnTimeIsUp) {
    rollout_table t(small_config());  // forget_after 600 s
    t.record(peer(1, 100), milliseconds(0));
    t.record(peer(2, 100), milliseconds(300'000));
    t.expire(0, 1, milliseconds(599'000));
    EXPECT_EQ(t.peer_count(), 2U) << "nobody is due yet";
    t.expire(0, 1, milliseconds(601'000));
    EXPECT_EQ(t.peer_count(), 1U) << "the first is due, the second not";
    t.expire(0, 1, milliseconds(800'000));
    EXPECT_EQ(t.peer_count(), 1U);
    t.record(peer(2, 90), milliseconds(850'000));  // the second announces again
    t.record(peer(3, 100), milliseconds(860'000));
    t.expire(0, 1, milliseconds(1'200'000));
    EXPECT_EQ(t.peer_count(), 2U) << "its first announce no longer counts";
    t.expire(0, 1, milliseconds(1'451'000));
    EXPECT_EQ(t.peer_count(), 1U);
    EXPECT_EQ(t.list(milliseconds(1'451'000)).at(0).gone, 2U);
    t.expire(0, 1, milliseconds(1'461'000));
    EXPECT_EQ(t.peer_count(), 0U);
}

TEST(RolloutTable, KeepsATorrentWithAnExpectationAfterItsPeersExpire) {
    rollout_table t(small_config());
    ASSERT_TRUE(t.set_expected(hash_n(3), 5, milliseconds(0)));
    t.record(peer(1, 100, announce_event::none, 3), milliseconds(0));
    t.expire(0, 1, milliseconds(700'000));
    const auto all = t.list(milliseconds(700'000));
    ASSERT_EQ(all.size(), 1U);
    EXPECT_EQ(all[0].expected, 5U);
    EXPECT_EQ(all[0].gone, 1U);
}

TEST(RolloutTable, AnExpectationAloneListsATorrentNotYetAnnounced) {
    rollout_table t(small_config());
    ASSERT_TRUE(t.set_expected(hash_n(4), 12, milliseconds(0)));
    const auto all = t.list(milliseconds(5));
    ASSERT_EQ(all.size(), 1U);
    EXPECT_FALSE(all[0].since_first_seen);
    ASSERT_TRUE(t.set_expected(hash_n(4), std::nullopt, milliseconds(6)));
    EXPECT_FALSE(t.list(milliseconds(7)).at(0).expected);
}

TEST(RolloutTable, StaysWithinItsTorrentCapByEvictingTheLeastRecentlyAnnounced) {
    rollout_config c = small_config();
    c.max_torrents = 3;
    c.shards = 1;
    rollout_table t(c);
    ASSERT_TRUE(t.set_expected(hash_n(50), 1, milliseconds(0)));  // never evicted
    for (std::uint8_t i = 1; i <= 20; ++i) {
        t.record(peer(1, 100, announce_event::none, i), milliseconds(i * 10));
    }
    EXPECT_EQ(t.torrent_count(), 3U);
    const auto all = t.list(milliseconds(1000));
    ASSERT_EQ(all.size(), 3U);
    EXPECT_EQ(all[0].hash, hash_n(19));
    EXPECT_EQ(all[1].hash, hash_n(20));
    EXPECT_EQ(all[2].hash, hash_n(50));
    EXPECT_EQ(t.peer_count(), 2U);
}

TEST(RolloutTable, CountsDownloadersPastThePeerCapAsUntracked) {
    rollout_config c = small_config();
    c.max_peers = 4;
    rollout_table t(c);
    for (std::uint8_t i = 1; i <= 10; ++i) t.record(peer(i, 100), milliseconds(0));
    const auto all = t.list(milliseconds(1));
    EXPECT_EQ(all.at(0).downloading, 4U);
    EXPECT_EQ(all.at(0).untracked, 6U);
    EXPECT_EQ(t.peer_count(), 4U);
}

TEST(RolloutTable, ListsAtMostMaxListedStragglersLongestStuckFirst) {
    rollout_config c = small_config();
    c.max_listed = 3;
    rollout_table t(c);
    for (std::uint8_t i = 1; i <= 8; ++i) t.record(peer(i, 100), milliseconds(i * 1000));
    const auto d = t.detail(hash_n(1), milliseconds(100'000));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->summary.stragglers, 8U);
    ASSERT_EQ(d->stragglers.size(), 3U);
    EXPECT_EQ(d->stragglers[0].peer.address[3], 1);
    EXPECT_EQ(d->stragglers[2].peer.address[3], 3);
}

TEST(CompletionHistogram, QuantilesAreWithinOneSixteenthOfTheExactOnes) {
    completion_histogram h;
    std::vector<std::int64_t> values;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 5000; ++i) {
        values.push_back(static_cast<std::int64_t>(rng() % 600'000));
        h.add(values.back());
    }
    std::sort(values.begin(), values.end());
    for (const double q : {0.5, 0.9, 0.99}) {
        const auto exact = values[static_cast<std::size_t>(std::ceil(q * 5000)) - 1];
        const auto got = h.quantile(q);
        EXPECT_GE(got, exact) << q;
        EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1.0 + 1.0 / 16) + 1) << q;
    }
    EXPECT_EQ(h.summary().max, values.back());
    EXPECT_EQ(h.count(), 5000U);
}

TEST(CompletionHistogram, IsExactForSmallValuesAndClampsToTheMax) {
    completion_histogram h;
    for (const std::int64_t v : {3, 5, 7, 1000}) h.add(v);
    EXPECT_EQ(h.quantile(0.5), 5);
    EXPECT_EQ(h.quantile(0.25), 3);
    EXPECT_EQ(h.quantile(1.0), 1000);
    EXPECT_EQ(completion_histogram{}.quantile(0.5), 0);
}

TEST(CompletionSeries, DoublesItsBucketWidthInsteadOfGrowingPastItsCap) {
    completion_series s;
    s.add(50);
    s.add(150);
    s.add(10 * 60 * 1000);  // ten minutes after the start
    EXPECT_LE(s.counts().size(), completion_series::max_buckets);
    EXPECT_GT(s.bucket_ms(), 100);
    std::uint32_t total = 0;
    for (const auto n : s.counts()) total += n;
    EXPECT_EQ(total, 3U);
    EXPECT_EQ(s.counts().front(), 2U);
}

TEST(ExpectFile, ReadsHashesAndCountsAndRefusesABadLineByNumber) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("rollout_expect_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto good = dir / "good";
    std::ofstream(good) << "# rollout of build 42\n\n"
                        << hash_n(0xab).hex() << " 120\n"
                        << hash_n(0xcd).hex() << "\t7\r\n";
    auto r = load_expect_file(good);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 2U);
    EXPECT_EQ((*r)[0].first, hash_n(0xab));
    EXPECT_EQ((*r)[0].second, 120U);
    EXPECT_EQ((*r)[1].second, 7U);
    const auto bad = dir / "bad";
    std::ofstream(bad) << hash_n(1).hex() << " 3\n" << hash_n(2).hex() << " many\n";
    auto e = load_expect_file(bad);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().reason.find(":2:"), std::string::npos) << e.error().reason;
    EXPECT_FALSE(load_expect_file(dir / "missing"));
    std::filesystem::remove_all(dir);
}

TEST(RolloutTable, KeepsItsCountsUnderAnnouncesFromSeveralThreads) {
    rollout_config c = small_config();
    c.shards = 8;
    rollout_table t(c);
    std::vector<std::thread> threads;
    for (std::uint8_t th = 0; th < 4; ++th) {
        threads.emplace_back([&t, th] {
            for (std::uint8_t host = 1; host <= 50; ++host) {
                auto in = peer(host, 100, announce_event::started, th + 1);
                t.record(in, milliseconds(0));
                in.left = 0;
                in.event = announce_event::completed;
                t.record(in, milliseconds(host));
            }
        });
    }
    for (auto& th : threads) th.join();
    const auto all = t.list(milliseconds(100));
    ASSERT_EQ(all.size(), 4U);
    for (const auto& s : all) EXPECT_EQ(s.completed, 50U);
    EXPECT_EQ(t.peer_count(), 0U);
}

}  // namespace
}  // namespace minibit::tracker
