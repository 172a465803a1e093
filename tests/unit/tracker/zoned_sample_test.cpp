// Zone-split peer lists: peer_list::sample_zoned and the swarm shard's announce with a zone map.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "minibit/tracker/peer_list.hpp"
#include "minibit/tracker/swarm_table.hpp"
#include "minibit/tracker/zone_map.hpp"

namespace minibit::tracker {
namespace {

// Peer i of zone z (default zones: one /24 each): 10.0.z.(i % 250), port 1000 + i.
std::array<std::uint8_t, 6> ep(std::uint32_t z, std::uint32_t i) {
    const auto port = static_cast<std::uint16_t>(1000 + i);
    return {10,
            0,
            static_cast<std::uint8_t>(z),
            static_cast<std::uint8_t>(i % 250),
            static_cast<std::uint8_t>(port >> 8U),
            static_cast<std::uint8_t>(port)};
}

std::uint16_t leecher_state() {
    peer_record<6> r;
    r.set(1, false);
    return r.state;
}

struct answer_counts {
    std::size_t local = 0;
    std::size_t other = 0;
};

// Fills a list with `sizes[z]` peers in zone z; returns the slot of peer 0 of zone 0.
std::size_t fill(peer_list<6>& l, const std::vector<std::uint32_t>& sizes) {
    for (std::uint32_t z = 0; z < sizes.size(); ++z) {
        for (std::uint32_t i = 0; i < sizes[z]; ++i) l.insert(ep(z, i), leecher_state());
    }
    return l.find(ep(0, 0));
}

// One answer to peer 0 of zone 0: checks no self and no repeats, counts its zones.
answer_counts ask(peer_list<6>& l, std::size_t self, std::size_t k, double share, fast_rng& rng,
                  std::map<std::array<std::uint8_t, 6>, int>* seen = nullptr) {
    static const zone_map zones;
    const std::array<std::uint8_t, 4> asker{10, 0, 0, 0};
    std::vector<std::uint8_t> out;
    l.sample_zoned(self, k, zone_split{&zones, asker, share}, rng, out);
    EXPECT_EQ(out.size() % 6, 0U);
    std::set<std::array<std::uint8_t, 6>> got;
    answer_counts c;
    for (std::size_t i = 0; i < out.size(); i += 6) {
        std::array<std::uint8_t, 6> e{};
        std::copy_n(out.begin() + static_cast<std::ptrdiff_t>(i), 6, e.begin());
        EXPECT_NE(e, ep(0, 0)) << "the asker is never in its own answer";
        EXPECT_TRUE(got.insert(e).second) << "no peer twice in one answer";
        (e[2] == 0 ? c.local : c.other) += 1;
        if (seen != nullptr) ++(*seen)[e];
    }
    return c;
}

TEST(ZonedSample, ThreeQuartersOfEachAnswerComeFromTheAskersZone) {
    // 101 peers here and 80 elsewhere: the walk (exact shares) on a list of <= 256 slots.
    peer_list<6> l(7);
    const std::size_t self = fill(l, {101, 40, 40});
    fast_rng rng(3);
    std::map<std::array<std::uint8_t, 6>, int> seen;
    for (int i = 0; i < 3000; ++i) {
        const answer_counts c = ask(l, self, 40, 0.75, rng, &seen);
        ASSERT_EQ(c.local, 30U);
        ASSERT_EQ(c.other, 10U);
    }
    // Uniform within each side: every local peer about 3000 x 30/100 = 900 times, every other
    // peer 3000 x 10/80 = 375 times.
    ASSERT_EQ(seen.size(), 180U) << "every peer but the asker is reached";
    for (const auto& [e, n] : seen) {
        if (e[2] == 0) {
            EXPECT_NEAR(n, 900, 150) << int(e[3]);
        } else {
            EXPECT_NEAR(n, 375, 100) << int(e[2]) << "." << int(e[3]);
        }
    }
}

TEST(ZonedSample, BigListsKeepExactSharesThroughTheZoneIndex) {
    // 3 x 1500 peers: above 256 slots, the sides come from the zone index.
    peer_list<6> l(9);
    const std::size_t self = fill(l, {1500, 1500, 1500});
    ASSERT_GT(l.capacity(), 256U);
    fast_rng rng(5);
    for (int i = 0; i < 1000; ++i) {
        const answer_counts c = ask(l, self, 50, 0.75, rng);
        ASSERT_EQ(c.local, 38U) << "round(0.75 x 50)";
        ASSERT_EQ(c.other, 12U);
    }
    EXPECT_TRUE(l.has_zone_index());
    l.check_invariants();
}

TEST(ZonedSample, AZoneWithTooFewPeersLeavesItsPlacesToOthers) {
    peer_list<6> l(11);
    const std::size_t self = fill(l, {4, 100});
    fast_rng rng(1);
    for (int i = 0; i < 200; ++i) {
        const answer_counts c = ask(l, self, 40, 0.75, rng);
        EXPECT_EQ(c.local, 3U) << "every other peer of the zone";
        EXPECT_EQ(c.other, 37U) << "the answer is still full";
    }
}

TEST(ZonedSample, EvenASmallAnswerKeepsOnePlaceForOtherZones) {
    peer_list<6> l(23);
    const std::size_t self = fill(l, {50, 50});
    fast_rng rng(8);
    for (int i = 0; i < 100; ++i) {
        const answer_counts c = ask(l, self, 2, 0.75, rng);
        EXPECT_EQ(c.local, 1U);
        EXPECT_EQ(c.other, 1U);
    }
    EXPECT_EQ(ask(l, self, 4, 1.0, rng).local, 4U) << "a share of 1: only the zone";
}

TEST(ZonedSample, TooFewPeersElsewhereLeavesTheirPlacesToTheZone) {
    peer_list<6> l(11);
    const std::size_t self = fill(l, {100, 3});
    fast_rng rng(1);
    for (int i = 0; i < 200; ++i) {
        const answer_counts c = ask(l, self, 40, 0.75, rng);
        EXPECT_EQ(c.other, 3U);
        EXPECT_EQ(c.local, 37U);
    }
}

TEST(ZonedSample, ARareZoneInABigSwarmStillGetsAFullAnswer) {
    // 2 peers of the asker's zone among 3000: probing may miss them, the answer stays full.
    peer_list<6> l(13);
    const std::size_t self = fill(l, {3, 1500, 1500});
    fast_rng rng(2);
    for (int i = 0; i < 300; ++i) {
        const answer_counts c = ask(l, self, 50, 0.75, rng);
        EXPECT_EQ(c.local, 2U) << "both other peers of the zone, found without a walk";
        EXPECT_EQ(c.other, 48U);
    }
}

std::uint16_t state_of(bool seeder) {
    peer_record<6> r;
    r.set(1, seeder);
    return r.state;
}

TEST(ZonedSample, BigListsSampleEachSideUniformlySeedersIncluded) {
    // Zone 0: 400 peers, zone 1: 300, zone 2: 300; every fourth peer a seeder. Each side is a
    // uniform sample of its peers, seeders and leechers alike.
    peer_list<6> l(29);
    const std::vector<std::uint32_t> sizes{400, 300, 300};
    for (std::uint32_t z = 0; z < sizes.size(); ++z) {
        for (std::uint32_t i = 0; i < sizes[z]; ++i) l.insert(ep(z, i), state_of(i % 4 == 0));
    }
    const std::size_t self = l.find(ep(0, 0));
    fast_rng rng(12);
    std::map<std::array<std::uint8_t, 6>, int> seen;
    std::array<std::size_t, 2> seeders{0, 0};
    constexpr int answers = 4000;
    for (int i = 0; i < answers; ++i) {
        const answer_counts c = ask(l, self, 40, 0.75, rng, &seen);
        ASSERT_EQ(c.local, 30U);
        ASSERT_EQ(c.other, 10U);
    }
    ASSERT_EQ(seen.size(), 999U) << "every peer but the asker is reached";
    for (const auto& [e, n] : seen) {
        const bool local = e[2] == 0;
        const std::uint32_t i = (std::uint32_t{e[4]} << 8U | e[5]) - 1000;
        if (i % 4 == 0) ++seeders[local ? 1 : 0];
        // Local: 4000 x 30 / 399 = 301 each; other: 4000 x 10 / 600 = 67 each.
        if (local) {
            EXPECT_NEAR(n, 301, 75) << i;
        } else {
            EXPECT_NEAR(n, 67, 40) << int(e[2]) << " " << i;
        }
    }
    EXPECT_EQ(seeders[1], 99U) << "every seeder of the zone appears in the local share";
    EXPECT_EQ(seeders[0], 150U) << "every seeder elsewhere appears in the other share";
}

TEST(ZonedSample, AFewPeersElsewhereAreFoundThroughTheirGroups) {
    // 2000 peers here and 60 in two other zones: the others are too rare to find by probing
    // slots, so their groups are walked; each of them still shows up uniformly.
    peer_list<6> l(31);
    const std::size_t self = fill(l, {2000, 30, 30});
    fast_rng rng(14);
    std::map<std::array<std::uint8_t, 6>, int> seen;
    for (int i = 0; i < 3000; ++i) {
        const answer_counts c = ask(l, self, 50, 0.75, rng, &seen);
        ASSERT_EQ(c.local, 38U);
        ASSERT_EQ(c.other, 12U);
    }
    std::size_t others = 0;
    for (const auto& [e, n] : seen) {
        if (e[2] == 0) continue;
        ++others;
        EXPECT_NEAR(n, 600, 120) << "3000 x 12 / 60";
    }
    EXPECT_EQ(others, 60U);
}

// The zone index against churn: inserts (with the map, without it, growing the list),
// removals one by one and by predicate, a new map. check_invariants() checks the index (every
// record a member of its group at its link's place, groups against the zone table).
TEST(ZoneIndex, StaysConsistentThroughInsertsRemovalsAndNewMaps) {
    static const zone_map zones;
    peer_list<6> l(37);
    fill(l, {300, 200, 100});
    const std::array<std::uint8_t, 4> asker{10, 0, 0, 0};
    const auto answer = [&](const zone_map& m) {
        std::vector<std::uint8_t> out;
        fast_rng rng(1);
        l.sample_zoned(l.find(ep(0, 0)), 20, zone_split{&m, asker, 0.75}, rng, out);
        return out.size() / 6;
    };
    EXPECT_FALSE(l.has_zone_index()) << "built on the first zoned answer";
    ASSERT_EQ(answer(zones), 20U);
    ASSERT_TRUE(l.has_zone_index());
    l.check_invariants();
    fast_rng rng(99);
    std::uint32_t next = 1000;
    for (int round = 0; round < 400; ++round) {
        const auto z = static_cast<std::uint32_t>(rng.below(4));
        if (rng.below(3) == 0) {
            const std::size_t s = l.find(ep(z, static_cast<std::uint32_t>(rng.below(300))));
            if (s != peer_list<6>::npos && s != l.find(ep(0, 0))) l.remove_at(s);
        } else {
            l.insert(ep(z, next++), leecher_state(), &zones);
        }
        if (round % 50 == 0) l.check_invariants();
        if (!l.has_zone_index()) {
            ASSERT_EQ(answer(zones), 20U);  // a resize dropped it
        }
    }
    l.check_invariants();
    const std::size_t before = l.size();
    const std::size_t removed = l.remove_if(
        [](const peer_record<6>& r) { return r.endpoint[2] == 1 && r.endpoint[5] % 2 == 0; });
    EXPECT_GT(removed, 0U);
    EXPECT_EQ(l.size(), before - removed);
    l.check_invariants();
    // An insert without the map drops the index; the next answer rebuilds it.
    ASSERT_EQ(answer(zones), 20U);
    l.insert(ep(2, 9999), leecher_state());
    EXPECT_FALSE(l.has_zone_index());
    ASSERT_EQ(answer(zones), 20U);
    EXPECT_TRUE(l.has_zone_index());
    l.check_invariants();
    // A reloaded map (another serial) regroups the peers: zone 0 and 1 now one named zone.
    auto named = zone_map::parse("10.0.0.0/23 rack\n");
    ASSERT_TRUE(named);
    const std::size_t zone01 = [&] {
        std::size_t n = 0;
        for (std::size_t s = 0; s < l.capacity(); ++s)
            n += !l.at(s).empty() && l.at(s).endpoint[2] <= 1 ? 1 : 0;
        return n;
    }();
    ASSERT_GT(zone01, 40U);
    std::vector<std::uint8_t> out;
    fast_rng r2(3);
    l.sample_zoned(l.find(ep(0, 0)), 40, zone_split{&*named, asker, 0.75}, r2, out);
    ASSERT_EQ(out.size(), 40U * 6);
    std::size_t in_rack = 0;
    for (std::size_t i = 0; i < out.size(); i += 6) in_rack += out[i + 2] <= 1 ? 1 : 0;
    EXPECT_EQ(in_rack, 30U);
    l.check_invariants();
}

TEST(ZonedSample, ShareZeroIsTheUniformSample) {
    peer_list<6> l(17);
    const std::size_t self = fill(l, {201, 600});
    fast_rng rng(4);
    std::size_t local = 0;
    for (int i = 0; i < 2000; ++i) local += ask(l, self, 40, 0.0, rng).local;
    // Uniform: 40 x 200/800 = 10 local per answer on average.
    EXPECT_NEAR(static_cast<double>(local) / 2000, 10.0, 0.5);
}

TEST(ZonedSample, ASmallSwarmAnswersEveryoneWhateverTheZones) {
    peer_list<6> l(19);
    const std::size_t self = fill(l, {3, 5});
    fast_rng rng(6);
    const answer_counts c = ask(l, self, 50, 0.75, rng);
    EXPECT_EQ(c.local, 2U);
    EXPECT_EQ(c.other, 5U);
}

// The shard's announce with a named-zone map: IPv4 and IPv6 peers of one rack are one zone,
// and seeders count in the share of their own zone.
TEST(ZonedAnnounce, AnswersFollowTheZonesOfTheMapInBothFamilies) {
    auto zones = zone_map::parse("10.1.0.0/16 rack-a\nfd00:a::/32 rack-a\n10.2.0.0/16 rack-b\n");
    ASSERT_TRUE(zones);
    swarm_shard shard(table_config{}, 21);
    info_hash h;
    h.bytes.fill(0x42);
    std::vector<std::uint8_t> p4;
    std::vector<std::uint8_t> p6;
    const std::chrono::seconds now(100);
    auto announce = [&](std::array<std::uint8_t, 16> addr, std::uint8_t bytes, std::uint16_t port,
                        std::uint64_t left) {
        announce_input in;
        in.hash = h;
        in.peer.address = addr;
        in.peer.address_bytes = bytes;
        in.peer.port = port;
        in.left = left;
        in.numwant = 20;
        in.zones = &*zones;
        p4.clear();
        p6.clear();
        ASSERT_TRUE(shard.announce(in, now, p4, p6));
    };
    // rack-a: 20 IPv4 leechers, 20 IPv6 leechers; rack-b: 60 IPv4 peers, a third seeders.
    for (std::uint16_t i = 0; i < 20; ++i) {
        announce({10, 1, 0, static_cast<std::uint8_t>(i)}, 4, 7000, 5);
        announce({0xfd, 0, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(i)},
                 16, 7000, 5);
    }
    for (std::uint16_t i = 0; i < 60; ++i)
        announce({10, 2, 0, static_cast<std::uint8_t>(i)}, 4, 7000, i % 3 == 0 ? 0 : 5);
    std::size_t rack_a = 0;
    std::size_t rack_b = 0;
    std::set<std::uint8_t> b_seeders_seen;
    for (int round = 0; round < 200; ++round) {
        announce({10, 1, 0, 0}, 4, 7000, 5);  // peer 0 of rack-a asks for 20
        ASSERT_EQ(p4.size() / 6 + p6.size() / 18, 20U);
        for (std::size_t i = 0; i < p4.size(); i += 6) {
            ASSERT_FALSE(p4[i + 1] == 1 && p4[i + 3] == 0) << "not itself";
            if (p4[i + 1] == 1) {
                ++rack_a;
            } else {
                ++rack_b;
                if (p4[i + 3] % 3 == 0) b_seeders_seen.insert(p4[i + 3]);
            }
        }
        rack_a += p6.size() / 18;
    }
    // IPv4 first: 15 of rack-a's 19 other IPv4 peers and 5 of rack-b's, so no IPv6 is needed.
    EXPECT_EQ(rack_a, 200U * 15);
    EXPECT_EQ(rack_b, 200U * 5);
    EXPECT_EQ(b_seeders_seen.size(), 20U) << "rack-b's seeders reach rack-a through its share";
    // An IPv6 peer of rack-a: its zone holds rack-a's IPv4 peers too.
    announce({0xfd, 0, 0, 0xa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}, 16, 7000, 5);
    ASSERT_EQ(p4.size(), 20U * 6);
    std::size_t v4_rack_a = 0;
    for (std::size_t i = 0; i < p4.size(); i += 6) v4_rack_a += p4[i + 1] == 1 ? 1 : 0;
    EXPECT_EQ(v4_rack_a, 15U);
}

}  // namespace
}  // namespace minibit::tracker
