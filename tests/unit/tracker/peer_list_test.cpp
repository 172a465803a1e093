#include "minibit/tracker/peer_list.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

namespace minibit::tracker {
namespace {

std::array<std::uint8_t, 6> ep(std::uint32_t i) {
    return {10,
            static_cast<std::uint8_t>(i >> 16U),
            static_cast<std::uint8_t>(i >> 8U),
            static_cast<std::uint8_t>(i),
            0x1a,
            0xe1};
}

// A non-zero state that records i (stamp 1..32767, seeder bit from i's parity).
std::uint16_t state_of(std::uint32_t i) {
    peer_record<6> r;
    r.set(stamp_of(i), i % 2 == 1);
    return r.state;
}

std::uint32_t id_at(const std::vector<std::uint8_t>& out, std::size_t i) {
    return (std::uint32_t{out[i + 1]} << 16U) | (std::uint32_t{out[i + 2]} << 8U) | out[i + 3];
}

TEST(PeerList, FindsEveryInsertedPeerAcrossGrowth) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 5000; ++i) {
        const auto s = l.insert(ep(i), state_of(i));
        ASSERT_EQ(l.at(s).endpoint, ep(i)) << "insert returns the slot it used";
    }
    EXPECT_EQ(l.size(), 5000U);
    for (std::uint32_t i = 0; i < 5000; ++i) {
        const auto s = l.find(ep(i));
        ASSERT_NE(s, peer_list<6>::npos) << i;
        EXPECT_EQ(l.at(s).state, state_of(i));
    }
    EXPECT_EQ(l.find(ep(5000)), peer_list<6>::npos);
}

// The endpoint of peer i in a pattern a flooder would pick: one address, consecutive ports.
std::array<std::uint8_t, 6> port_ep(std::uint32_t i) {
    return {198, 18, 0, 1, static_cast<std::uint8_t>(i >> 8U), static_cast<std::uint8_t>(i)};
}

TEST(PeerList, TheHashKeyDecidesWherePeersLand) {
    peer_list<6> a(0x12345678U);
    peer_list<6> same(0x12345678U);
    peer_list<6> other(0x9abcdef0U);
    for (std::uint32_t i = 0; i < 300; ++i) {
        a.insert(ep(i), state_of(i));
        same.insert(ep(i), state_of(i));
        other.insert(ep(i), state_of(i));
    }
    ASSERT_EQ(a.capacity(), other.capacity());
    std::size_t same_slots = 0;
    std::size_t moved = 0;
    for (std::uint32_t i = 0; i < 300; ++i) {
        same_slots += a.find(ep(i)) == same.find(ep(i)) ? 1 : 0;
        moved += a.find(ep(i)) != other.find(ep(i)) ? 1 : 0;
        ASSERT_NE(other.find(ep(i)), peer_list<6>::npos) << i;
    }
    EXPECT_EQ(same_slots, 300U) << "one key, one layout";
    EXPECT_GT(moved, 250U) << "another key scatters the peers anew";
}

TEST(PeerList, EndpointsCollidingUnderOneKeySpreadUnderAnother) {
    // A flooder who knew key 1 would send endpoints whose hashes all start the table (home
    // slots scale with the table, so they collide at any size). Find them the way an attacker
    // with the key could: those that settle in the first 0.1% of a big table under key 1.
    peer_list<6> big(1);
    for (std::uint32_t i = 0; i < 200000; ++i) big.insert(ep(i), state_of(i));
    std::vector<std::uint32_t> crafted;
    for (std::uint32_t i = 0; i < 200000; ++i) {
        if (big.find(ep(i)) < big.capacity() / 1000) crafted.push_back(i);
    }
    ASSERT_GE(crafted.size(), 100U);
    peer_list<6> known(1);
    peer_list<6> secret(0x5eed5eedU);
    for (const std::uint32_t i : crafted) {
        known.insert(ep(i), state_of(i));
        secret.insert(ep(i), state_of(i));
    }
    EXPECT_GT(known.longest_probe(), crafted.size() / 2) << "one long chain under the known key";
    EXPECT_LE(secret.longest_probe(), 32U) << "ordinary probes under another key";
}

TEST(PeerList, FloodPatternsKeepProbesShort) {
    // Consecutive ports of one address and consecutive addresses with one port, under a few
    // keys: the longest probe stays near what random endpoints give (Robin Hood at load <= 0.9).
    for (std::uint32_t key : {0U, 1U, 0xdeadbeefU, 0x80000000U}) {
        peer_list<6> ports(key);
        peer_list<6> hosts(key);
        for (std::uint32_t i = 0; i < 32768; ++i) {
            ports.insert(port_ep(i), state_of(i));
            hosts.insert({10, static_cast<std::uint8_t>(i >> 8U), static_cast<std::uint8_t>(i), 1,
                          0x1a, 0xe1},
                         state_of(i));
        }
        EXPECT_LE(ports.longest_probe(), 64U) << key;
        EXPECT_LE(hosts.longest_probe(), 64U) << key;
    }
}

TEST(PeerList, RemovalKeepsEveryOtherPeerFindable) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 1000; ++i) l.insert(ep(i), state_of(i));
    // Remove every third peer through find(), then check all survivors and all removed ones.
    for (std::uint32_t i = 0; i < 1000; i += 3) l.remove_at(l.find(ep(i)));
    EXPECT_EQ(l.size(), 666U);
    for (std::uint32_t i = 0; i < 1000; ++i) {
        const auto at = l.find(ep(i));
        if (i % 3 == 0) {
            EXPECT_EQ(at, peer_list<6>::npos) << i;
        } else {
            ASSERT_NE(at, peer_list<6>::npos) << i;
            EXPECT_EQ(l.at(at).state, state_of(i));
        }
    }
}

TEST(PeerList, ReAnnounceUpdatesTheRecordInPlace) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 100; ++i) l.insert(ep(i), state_of(i));
    const auto s = l.find(ep(42));
    l.at(s).set(stamp_of(9999), true);
    EXPECT_EQ(l.size(), 100U);
    EXPECT_EQ(l.find(ep(42)), s);
    EXPECT_TRUE(l.at(s).seeder());
    EXPECT_EQ(l.at(s).stamp(), stamp_of(9999));
}

TEST(PeerList, RemoveIfVisitsEachPeerOnceAndDropsExactlyTheChosen) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 3000; ++i) l.insert(ep(i), state_of(i));
    std::map<std::uint32_t, int> visits;
    const auto removed = l.remove_if([&](const peer_record<6>& r) {
        const std::uint32_t id = (std::uint32_t{r.endpoint[1]} << 16U) |
                                 (std::uint32_t{r.endpoint[2]} << 8U) | r.endpoint[3];
        ++visits[id];
        return id % 5 != 0;
    });
    EXPECT_EQ(removed, 2400U);
    ASSERT_EQ(visits.size(), 3000U);
    for (const auto& [id, n] : visits) EXPECT_EQ(n, 1) << id;
    EXPECT_EQ(l.size(), 600U);
    for (std::uint32_t i = 0; i < 3000; ++i)
        EXPECT_EQ(l.find(ep(i)) != peer_list<6>::npos, i % 5 == 0) << i;
}

TEST(PeerList, ShrinksAfterChurnAndFreesAllWhenEmpty) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 4096; ++i) l.insert(ep(i), state_of(i));
    const std::size_t big = l.memory_bytes();
    for (std::uint32_t i = 0; i < 4090; ++i) l.remove_at(l.find(ep(i)));
    EXPECT_LT(l.memory_bytes() * 100, big);
    for (std::uint32_t i = 4090; i < 4096; ++i) EXPECT_NE(l.find(ep(i)), peer_list<6>::npos);
    l.remove_if([](const peer_record<6>&) { return true; });
    EXPECT_EQ(l.size(), 0U);
    EXPECT_EQ(l.memory_bytes(), 0U);
    l.insert(ep(7), state_of(7));
    EXPECT_NE(l.find(ep(7)), peer_list<6>::npos);
}

TEST(PeerList, CostsAtMostTwelveBytesPerIpv4PeerAtAnySize) {
    // 8-byte slots, load kept in [0.72, 0.9] while growing: at most 8 / 0.72 = 11.1 bytes.
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 120000; ++i) {
        l.insert(ep(i), state_of(i));
        if (i >= 64) {
            ASSERT_LE(l.memory_bytes(), (i + 1) * 12U) << "at " << i + 1 << " peers";
        }
    }
}

TEST(PeerList, SampleNeverReturnsSelfNorRepeats) {
    peer_list<6> l;
    for (std::uint32_t i = 0; i < 100; ++i) l.insert(ep(i), state_of(i));
    const auto self = l.find(ep(42));
    fast_rng rng(7);
    for (const std::size_t k : {5U, 30U, 70U, 99U, 150U}) {
        for (int round = 0; round < 100; ++round) {
            std::vector<std::uint8_t> out;
            l.sample(self, k, rng, out);
            ASSERT_EQ(out.size(), std::min<std::size_t>(k, 99) * 6U);
            std::set<std::uint32_t> seen;
            for (std::size_t i = 0; i < out.size(); i += 6) {
                EXPECT_NE(id_at(out, i), 42U);
                EXPECT_TRUE(seen.insert(id_at(out, i)).second) << "repeated " << id_at(out, i);
            }
        }
    }
}

// Each peer should appear k/n of the time, for both the rejection path (k <= n/2) and the
// table walk (k > n/2); a chi-square statistic far above its n-1 degrees of freedom fails.
void expect_even_sampling(std::size_t k) {
    constexpr std::uint32_t n = 200;
    constexpr int rounds = 4000;
    peer_list<6> l;
    for (std::uint32_t i = 0; i < n; ++i) l.insert(ep(i), state_of(i));
    fast_rng rng(k);
    std::vector<int> hits(n);
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::uint8_t> out;
        l.sample(peer_list<6>::npos, k, rng, out);
        for (std::size_t i = 0; i < out.size(); i += 6) ++hits[id_at(out, i)];
    }
    const double expected = static_cast<double>(rounds) * static_cast<double>(k) / n;
    double chi2 = 0;
    for (const int h : hits) chi2 += (h - expected) * (h - expected) / expected;
    // Sampling without replacement lowers the variance, so chi2 <= ~199 on average; 300 is far
    // beyond chance (p < 1e-5) yet a sampler favouring part of the table scores in thousands.
    EXPECT_LT(chi2, 300.0) << "k=" << k;
}

TEST(PeerList, SampleReachesEveryPeerEvenly) {
    expect_even_sampling(10);
    expect_even_sampling(150);
}

TEST(PeerList, SampleOfASmallSwarmReturnsEveryoneElse) {
    peer_list<18> l;
    std::array<std::uint8_t, 18> a{};
    a[0] = 1;
    std::array<std::uint8_t, 18> b{};
    b[0] = 2;
    const auto sa = l.insert(a, 2);
    l.insert(b, 2);
    fast_rng rng(3);
    std::vector<std::uint8_t> out;
    l.sample(l.find(a), 50, rng, out);
    ASSERT_EQ(out.size(), 18U);
    EXPECT_EQ(out[0], 2);
    EXPECT_EQ(l.find(a), sa);
}

// Grow and shrink phases of random inserts, re-announces, removals and remove_if sweeps over a
// universe of 1000 endpoints; the table's invariants hold after every mutation and its contents
// match a std::map model. Bounded: 4000 steps, a fixed seed.
TEST(PeerList, RandomChurnKeepsTheInvariantsAndMatchesAModel) {
    peer_list<6> l(0x5eedU);
    std::map<std::uint32_t, std::uint16_t> model;
    fast_rng rng(2024);
    for (std::uint32_t step = 0; step < 4000; ++step) {
        const bool growing = (step / 500) % 2 == 0;
        const auto id = static_cast<std::uint32_t>(rng.below(1000));
        const std::size_t op = rng.below(20);
        const auto slot = l.find(ep(id));
        if (op < (growing ? 15U : 4U)) {
            const std::uint16_t st = state_of(id + step);
            if (slot == peer_list<6>::npos) {
                const auto at = l.insert(ep(id), st);
                ASSERT_EQ(l.at(at).endpoint, ep(id));
            } else {
                l.at(slot).state = st;
            }
            model[id] = st;
        } else if (op < 19) {
            if (slot != peer_list<6>::npos) l.remove_at(slot);
            model.erase(id);
        } else {
            const auto k = static_cast<std::uint32_t>(rng.below(5) + 2);
            const std::size_t removed = l.remove_if([&](const peer_record<6>& r) {
                const std::uint32_t i = (std::uint32_t{r.endpoint[1]} << 16U) |
                                        (std::uint32_t{r.endpoint[2]} << 8U) | r.endpoint[3];
                return i % k == step % k;
            });
            std::size_t dropped = 0;
            std::erase_if(model, [&](const auto& kv) {
                const bool drop = kv.first % k == step % k;
                dropped += drop ? 1 : 0;
                return drop;
            });
            ASSERT_EQ(removed, dropped);
        }
        l.check_invariants();
        ASSERT_EQ(l.size(), model.size()) << "step " << step;
    }
    for (std::uint32_t id = 0; id < 1000; ++id) {
        const auto slot = l.find(ep(id));
        const auto it = model.find(id);
        ASSERT_EQ(slot != peer_list<6>::npos, it != model.end()) << id;
        if (it != model.end()) {
            EXPECT_EQ(l.at(slot).state, it->second);
        }
    }
}

TEST(PeerStamp, AgesAcrossTheWrap) {
    EXPECT_EQ(stamp_age(stamp_of(100), stamp_of(40)), 60U);
    EXPECT_EQ(stamp_age(stamp_of(32767 + 5), stamp_of(32767 - 5)), 10U);
    EXPECT_NE(stamp_of(0), 0U);
    EXPECT_NE(stamp_of(32766), 0U);
}

}  // namespace
}  // namespace minibit::tracker
