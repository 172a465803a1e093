#include "minibit/tracker/swarm_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace minibit::tracker {
namespace {

using std::chrono::seconds;
using wire::announce_event;

info_hash hash_n(std::uint8_t n) {
    info_hash h;
    h.bytes.fill(n);
    return h;
}

announce_input v4(std::uint8_t host, std::uint64_t left, announce_event ev = announce_event::none) {
    announce_input in;
    in.hash = hash_n(1);
    in.peer.address = {192, 168, 0, host};
    in.peer.port = 6881;
    in.left = left;
    in.event = ev;
    return in;
}

class SwarmShard : public testing::Test {
protected:
    table_config config_;
    swarm_shard shard_{config_, 99};
    std::vector<std::uint8_t> p4_;
    std::vector<std::uint8_t> p6_;

    swarm_counts announce(const announce_input& in, seconds now = seconds{1000}) {
        p4_.clear();
        p6_.clear();
        auto r = shard_.announce(in, now, p4_, p6_);
        EXPECT_TRUE(r) << r.error().message();
        return r.value_or(swarm_counts{});
    }
};

TEST_F(SwarmShard, CountsSeedersAndLeechers) {
    announce(v4(1, 0, announce_event::started));
    announce(v4(2, 100, announce_event::started));
    const auto c = announce(v4(3, 100, announce_event::started));
    EXPECT_EQ(c.complete, 1U);
    EXPECT_EQ(c.incomplete, 2U);
    EXPECT_EQ(shard_.peer_count(), 3U);
    EXPECT_EQ(shard_.seeder_count(), 1U);
}

TEST_F(SwarmShard, NeverReturnsTheAnnouncingPeer) {
    announce(v4(1, 0));
    announce(v4(2, 10));
    announce(v4(2, 10));
    ASSERT_EQ(p4_.size(), 6U);
    EXPECT_EQ(p4_, (std::vector<std::uint8_t>{192, 168, 0, 1, 0x1a, 0xe1}));
}

TEST_F(SwarmShard, CompletedMovesALeecherToSeedersAndCountsADownload) {
    announce(v4(1, 100, announce_event::started));
    const auto c = announce(v4(1, 0, announce_event::completed));
    EXPECT_EQ(c.complete, 1U);
    EXPECT_EQ(c.incomplete, 0U);
    EXPECT_EQ(c.downloaded, 1U);
    // A repeated completed from a seeder is not another download.
    EXPECT_EQ(announce(v4(1, 0, announce_event::completed)).downloaded, 1U);
}

TEST_F(SwarmShard, StoppedRemovesThePeerAtOnceAndReturnsNoPeers) {
    announce(v4(1, 0));
    announce(v4(2, 5));
    const auto c = announce(v4(2, 5, announce_event::stopped));
    EXPECT_EQ(c.complete, 1U);
    EXPECT_EQ(c.incomplete, 0U);
    EXPECT_TRUE(p4_.empty());
    EXPECT_EQ(shard_.peer_count(), 1U);
}

TEST_F(SwarmShard, StoppedForAnUnknownTorrentCreatesNothing) {
    auto in = v4(1, 0, announce_event::stopped);
    in.hash = hash_n(9);
    announce(in);
    EXPECT_EQ(shard_.torrent_count(), 0U);
}

TEST_F(SwarmShard, HonoursNumwantDefaultAndCap) {
    for (std::uint8_t h = 1; h <= 250; ++h) announce(v4(h, 1));
    auto in = v4(251, 1);
    announce(in);
    EXPECT_EQ(p4_.size(), 50U * 6U);
    in.numwant = 7;
    announce(in);
    EXPECT_EQ(p4_.size(), 7U * 6U);
    in.numwant = 1000;
    announce(in);
    EXPECT_EQ(p4_.size(), 200U * 6U);
}

TEST_F(SwarmShard, NumwantZeroRecordsThePeerAndReturnsNone) {
    for (std::uint8_t h = 1; h <= 20; ++h) announce(v4(h, 1));
    auto in = v4(21, 0);
    in.numwant = 0;
    const auto c = announce(in);
    EXPECT_TRUE(p4_.empty());
    EXPECT_TRUE(p6_.empty());
    EXPECT_EQ(c.complete, 1U) << "the peer is still recorded";
    EXPECT_EQ(c.incomplete, 20U);
}

TEST_F(SwarmShard, SamplesDifferentPeersAcrossAnnounces) {
    for (std::uint8_t h = 1; h <= 200; ++h) announce(v4(h, 1));
    auto in = v4(201, 1);
    in.numwant = 5;
    std::set<std::vector<std::uint8_t>> answers;
    for (int i = 0; i < 20; ++i) {
        announce(in);
        answers.insert(p4_);
    }
    EXPECT_GE(answers.size(), 19U);
}

TEST_F(SwarmShard, KeepsFamiliesApartUnlessBothAreWanted) {
    announce(v4(1, 0));
    announce_input six = v4(0, 1);
    six.peer.address_bytes = 16;
    six.peer.address = {0x20, 0x01, 0x0d, 0xb8};
    six.peer.address[15] = 1;
    announce(six);
    EXPECT_EQ(p4_.size(), 6U);  // HTTP default: both families
    EXPECT_TRUE(p6_.empty());
    six.families = peer_families::ipv6;
    six.peer.address[15] = 2;
    announce(six);
    EXPECT_TRUE(p4_.empty());
    ASSERT_EQ(p6_.size(), 18U);
    EXPECT_EQ(p6_[15], 1);
    EXPECT_EQ(p6_[16], 0x1a);
    EXPECT_EQ(shard_.scrape(hash_n(1)).incomplete, 2U);
}

TEST_F(SwarmShard, ExpiresSilentPeersAndDropsEmptySwarms) {
    announce(v4(1, 0), seconds{1000});
    announce(v4(2, 9), seconds{1000 + 3000});
    // peer_timeout = 3660 s: at t=4700 peer 1 is 3700 s old, peer 2 only 700 s.
    EXPECT_EQ(shard_.expire(seconds{4700}, 16), 1U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).complete, 0U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).incomplete, 1U);
    EXPECT_EQ(shard_.expire(seconds{4700 + 3700}, 16), 1U);
    EXPECT_EQ(shard_.torrent_count(), 0U);
    EXPECT_EQ(shard_.peer_count(), 0U);
    EXPECT_EQ(shard_.seeder_count(), 0U);
}

TEST_F(SwarmShard, ReAnnounceRefreshesThePeerAndItsSeederState) {
    announce(v4(1, 50, announce_event::started), seconds{1000});
    announce(v4(2, 50, announce_event::started), seconds{1000});
    // Peer 1 finishes without a completed event and announces again later.
    const auto c = announce(v4(1, 0), seconds{4000});
    EXPECT_EQ(c.complete, 1U);
    EXPECT_EQ(c.incomplete, 1U);
    EXPECT_EQ(c.downloaded, 0U);
    EXPECT_EQ(shard_.peer_count(), 2U);
    // At t=4700 only peer 2 (silent since 1000) has expired.
    EXPECT_EQ(shard_.expire(seconds{4700}, 16), 1U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).complete, 1U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).incomplete, 0U);
    EXPECT_EQ(shard_.seeder_count(), 1U);
}

TEST_F(SwarmShard, ExpiresAcrossTheTimeStampWrap) {
    // Stamps count 8 s ticks modulo 32767: put the announce just before the wrap.
    const seconds wrap{32767 * 8};
    announce(v4(1, 0), wrap - seconds{100});
    announce(v4(2, 7), wrap + seconds{3000});
    EXPECT_EQ(shard_.expire(wrap + seconds{3000}, 16), 0U);
    EXPECT_EQ(shard_.expire(wrap + seconds{3700}, 16), 1U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).complete, 0U);
    EXPECT_EQ(shard_.scrape(hash_n(1)).incomplete, 1U);
}

TEST_F(SwarmShard, HoldsAtMostTwelveBytesPerIpv4Peer) {
    // 8 torrents x 20,000 peers, distinct address:port pairs; heap bytes of the peer storage.
    for (std::uint32_t t = 1; t <= 8; ++t) {
        for (std::uint32_t i = 0; i < 20000; ++i) {
            auto in = v4(static_cast<std::uint8_t>(i), 1);
            in.hash = hash_n(static_cast<std::uint8_t>(t));
            in.peer.address[2] = static_cast<std::uint8_t>(i >> 8U);
            in.numwant = 1;
            announce(in);
        }
    }
    ASSERT_EQ(shard_.peer_count(), 160000U);
    EXPECT_LE(shard_.memory_bytes(), 160000U * 12U);
}

TEST_F(SwarmShard, ExpiryIsIncrementalAcrossSwarms) {
    for (std::uint8_t t = 1; t <= 10; ++t) {
        auto in = v4(1, 0);
        in.hash = hash_n(t);
        announce(in, seconds{0});
    }
    std::size_t removed = 0;
    for (int step = 0; step < 4; ++step) removed += shard_.expire(seconds{5000}, 3);
    EXPECT_EQ(removed, 10U);
    EXPECT_EQ(shard_.torrent_count(), 0U);
}

TEST_F(SwarmShard, RefusesNewTorrentsWhenFull) {
    config_.max_torrents_per_shard = 2;
    swarm_shard small(config_, 1);
    for (std::uint8_t t = 1; t <= 3; ++t) {
        auto in = v4(1, 0);
        in.hash = hash_n(t);
        const auto r = small.announce(in, seconds{0}, p4_, p6_);
        if (t <= 2) {
            EXPECT_TRUE(r);
        } else {
            ASSERT_FALSE(r);
            EXPECT_TRUE(is(r.error(), tracker_errc::table_full));
        }
    }
}

// Random announces (every event, seeders and leechers, IPv4 and IPv6) over 6 torrents and 120
// endpoints, with incremental expiry sweeps between them; the shard's invariants hold after
// every call, scrape counts match a model, every sampled peer is a member other than the
// announcer, and a late sweep empties the shard. Bounded: 3000 announces, a fixed seed.
TEST(SwarmShardChurn, RandomAnnouncesKeepTheInvariantsAndMatchAModel) {
    const table_config config;
    swarm_shard shard(config, 7);
    fast_rng rng(77);
    // Per torrent: endpoint id -> seeder.
    std::map<std::uint8_t, std::map<std::uint32_t, bool>> model;
    std::vector<std::uint8_t> p4;
    std::vector<std::uint8_t> p6;
    const seconds t0{5000};
    for (std::uint32_t step = 0; step < 3000; ++step) {
        const auto torrent = static_cast<std::uint8_t>(rng.below(6));
        const auto id = static_cast<std::uint32_t>(rng.below(120));
        announce_input in;
        in.hash = hash_n(torrent);
        in.peer.address_bytes = id % 3 == 0 ? 16 : 4;
        in.peer.address[0] = 10;
        in.peer.address[3] = static_cast<std::uint8_t>(id);
        in.peer.port = 6881;
        in.left = rng.below(3) == 0 ? 0 : 100;
        const std::size_t ev = rng.below(10);
        in.event = ev == 0   ? announce_event::stopped
                   : ev == 1 ? announce_event::completed
                   : ev == 2 ? announce_event::started
                             : announce_event::none;
        in.numwant = static_cast<std::uint32_t>(rng.below(8));
        p4.clear();
        p6.clear();
        const auto now = t0 + seconds{step / 10};  // far below the peer timeout
        ASSERT_TRUE(shard.announce(in, now, p4, p6));
        auto& peers = model[torrent];
        if (in.event == announce_event::stopped) {
            peers.erase(id);
        } else {
            peers[id] = in.left == 0;
        }
        shard.check_invariants();
        // Samples: members of the same family, never the announcer, no repeats.
        std::set<std::uint32_t> seen;
        for (std::size_t i = 0; i < p4.size(); i += 6) seen.insert(p4[i + 3]);
        for (std::size_t i = 0; i < p6.size(); i += 18) seen.insert(p6[i + 3]);
        EXPECT_EQ(seen.size(), p4.size() / 6 + p6.size() / 18);
        for (const std::uint32_t other : seen) {
            EXPECT_NE(other, id);
            EXPECT_TRUE(peers.contains(other)) << "sampled a peer not in the swarm";
        }
        if (step % 7 == 0) {
            EXPECT_EQ(shard.expire(now, 2), 0U) << "nobody is silent long enough to expire";
            shard.check_invariants();
        }
        const auto counts = shard.scrape(in.hash);
        const auto seeders = static_cast<std::uint32_t>(
            std::count_if(peers.begin(), peers.end(), [](const auto& kv) { return kv.second; }));
        ASSERT_EQ(counts.complete, seeders) << "step " << step;
        ASSERT_EQ(counts.incomplete, peers.size() - seeders) << "step " << step;
    }
    (void)shard.expire(t0 + seconds{3000 / 10} + config.peer_timeout + seconds{60}, 1000);
    shard.check_invariants();
    EXPECT_EQ(shard.peer_count(), 0U);
    EXPECT_EQ(shard.torrent_count(), 0U);
}

TEST(SwarmTable, SpreadsHashesOverShardsByTheirLastBytes) {
    const swarm_table t(table_config{}, 4, 1);
    info_hash h;
    h.bytes[19] = 6;
    EXPECT_EQ(t.shard_of(h), shard_id{2});
    h.bytes[19] = 7;
    EXPECT_EQ(t.shard_of(h), shard_id{3});
    EXPECT_EQ(t.shard_count(), 4U);
}

TEST(TableConfig, RejectsOutOfRangeValues) {
    table_config c;
    EXPECT_TRUE(c.validate());
    c.peer_timeout = seconds{200000};
    EXPECT_TRUE(is(c.validate().error(), tracker_errc::bad_config));
    c = table_config{};
    c.default_numwant = 500;
    EXPECT_TRUE(is(c.validate().error(), tracker_errc::bad_config));
}

}  // namespace
}  // namespace minibit::tracker
