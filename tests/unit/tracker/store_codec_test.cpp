// The shared store's byte formats, without Redis: --store addresses parse or fail with an
// offset; RESP commands are binary-safe; a feed blob survives a round trip and a damaged one is
// refused; a write-through batch becomes the commands the design names (last announce of a
// peer wins, stopped peers are removed, registry and feed once per batch).
#include <gtest/gtest.h>

#include <map>

#include "minibit/tracker/store.hpp"
#include "store_codec.hpp"

namespace minibit::tracker {
namespace {

TEST(StoreAddress, ParsesTcpAndUnixForms) {
    auto a = store_address::parse("redis://127.0.0.1:6380/2");
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_FALSE(a->unix_socket);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 6380);
    EXPECT_EQ(a->db, 2U);
    EXPECT_EQ(a->to_string(), "redis://127.0.0.1:6380/2");
    a = store_address::parse("redis://[::1]:7000");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "::1");
    EXPECT_EQ(a->to_string(), "redis://[::1]:7000");
    a = store_address::parse("redis://redis.example");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->port, 6379);
    a = store_address::parse("unix:///run/redis/redis.sock?db=3");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->unix_socket);
    EXPECT_EQ(a->path, "/run/redis/redis.sock");
    EXPECT_EQ(a->db, 3U);
}

TEST(StoreAddress, RefusesBadFormsWithTheOffset) {
    const std::map<std::string, std::size_t> bad{
        {"http://127.0.0.1:6379", 0}, {"redis://:6379", 8},       {"redis://h:0", 10},
        {"redis://h:99999", 10},      {"redis://h:6379/x", 15},   {"redis://[::1", 8},
        {"unix://relative.sock", 7},  {"unix:///r.sock?db=", 15}, {"unix:///r.sock?x=1", 15},
    };
    for (const auto& [url, offset] : bad) {
        const auto r = store_address::parse(url);
        ASSERT_FALSE(r) << url;
        EXPECT_TRUE(is(r.error(), store_errc::bad_address)) << url;
        EXPECT_EQ(r.error().offset, offset) << url;
    }
}

// localhost comes from /etc/hosts: no name server is asked.
TEST(StoreAddress, ResolvesLocalhostToALiteral) {
    auto a = store_address::parse("redis://localhost:6379");
    ASSERT_TRUE(a);
    const auto r = a->resolve();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->host == "127.0.0.1" || r->host == "::1") << r->host;
    EXPECT_EQ(r->port, 6379);
}

TEST(RespCommand, IsBinarySafe) {
    resp_command c;
    const std::string with_nul("a\0\r\nb", 5);
    c.begin(3).arg("SET").arg(with_nul).arg(std::uint64_t{42});
    EXPECT_EQ(c.view(), std::string("*3\r\n$3\r\nSET\r\n$5\r\na\0\r\nb\r\n$2\r\n42\r\n", 32));
}

journal_entry entry(std::uint8_t swarm, std::uint8_t host, std::uint8_t flags, bool v6 = false) {
    journal_entry e;
    e.hash.bytes.fill(swarm);
    peer_address p;
    p.address = {10, 0, 0, host};
    if (v6) {
        p.address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
        p.address_bytes = 16;
    }
    p.port = 6881;
    set_endpoint(e, p);
    e.flags = flags;
    return e;
}

TEST(FeedBlob, SurvivesARoundTripAndRefusesDamage) {
    const std::vector<journal_entry> in{entry(1, 1, journal_seeder),
                                        entry(2, 9, journal_stopped, true),
                                        entry(1, 2, journal_completed | journal_seeder)};
    std::string blob;
    encode_feed(in, blob);
    const auto out = decode_feed(blob);
    ASSERT_TRUE(out);
    ASSERT_EQ(out->size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*out)[i].hash, in[i].hash);
        EXPECT_EQ((*out)[i].flags, in[i].flags);
        EXPECT_EQ((*out)[i].endpoint_bytes, in[i].endpoint_bytes);
        EXPECT_EQ((*out)[i].endpoint, in[i].endpoint);
    }
    for (std::size_t n = 1; n < blob.size(); ++n) {
        const auto cut = decode_feed(std::string_view(blob).substr(0, n));
        // A cut on an entry boundary is a shorter valid blob; anywhere else it is refused.
        if (cut) {
            EXPECT_TRUE(n == 28 || n == 28 + 40) << n;
        }
    }
    std::string bad = blob;
    bad[1] = 7;  // endpoint length 7
    EXPECT_FALSE(decode_feed(bad));
    bad = blob;
    bad[0] = static_cast<char>(0x80);  // unknown flag
    EXPECT_FALSE(decode_feed(bad));
}

TEST(AddressOf, ReadsCompactEndpoints) {
    const auto p = address_of(std::string("\x0a\x00\x00\x01\x1a\xe1", 6));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->address_bytes, 4);
    EXPECT_EQ(p->address[3], 1);
    EXPECT_EQ(p->port, 6881);
    EXPECT_FALSE(address_of("12345"));
}

/// The commands of a batch, each as its list of arguments.
std::vector<std::vector<std::string>> commands_of(std::vector<journal_entry> entries,
                                                  std::uint64_t batch = 7) {
    const store_keys keys{"mb:"};
    batch_params p;
    p.keys = &keys;
    p.instance = "inst0001";
    p.now_ms = 1'000'000;
    p.ttl_ms = 3'660'000;
    p.feed_cutoff_ms = 880'000;
    p.batch_number = batch;
    std::vector<std::vector<std::string>> out;
    const std::size_t n = encode_batch(entries, p, [&](std::string_view cmd) {
        // Decode the RESP array back into arguments.
        std::vector<std::string> args;
        std::size_t at = cmd.find("\r\n") + 2;
        while (at < cmd.size()) {
            const std::size_t eol = cmd.find("\r\n", at);
            const std::size_t len = std::stoul(std::string(cmd.substr(at + 1, eol - at - 1)));
            args.emplace_back(cmd.substr(eol + 2, len));
            at = eol + 2 + len + 2;
        }
        out.push_back(std::move(args));
    });
    EXPECT_EQ(n, out.size());
    return out;
}

TEST(WriteBatch, OneSwarmBecomesZaddPexpireRegistryAndFeed) {
    const auto cmds = commands_of({entry(1, 1, 0), entry(1, 2, journal_seeder)});
    ASSERT_EQ(cmds.size(), 4U);
    EXPECT_EQ(cmds[0][0], "ZADD");
    EXPECT_EQ(cmds[0][1], "mb:s:" + std::string(20, '\x01'));
    EXPECT_EQ(cmds[0][2], "GT");
    ASSERT_EQ(cmds[0].size(), 7U);
    // expiry 4,660,000 ms: leecher score 9,320,000, seeder 9,320,001
    EXPECT_EQ(cmds[0][3], "9320000");
    EXPECT_EQ(cmds[0][5], "9320001");
    EXPECT_EQ(cmds[1], (std::vector<std::string>{"PEXPIRE", cmds[0][1], "3660000"}));
    EXPECT_EQ(cmds[2],
              (std::vector<std::string>{"ZADD", "mb:t", "GT", "4660000", std::string(20, '\x01')}));
    EXPECT_EQ(cmds[3][0], "XADD");
    EXPECT_EQ(cmds[3][1], "mb:f");
    EXPECT_EQ(cmds[3][4], "880000");
    EXPECT_EQ(cmds[3][7], "inst0001");
    const auto feed = decode_feed(cmds[3][9]);
    ASSERT_TRUE(feed);
    EXPECT_EQ(feed->size(), 2U);
}

TEST(WriteBatch, TheLastEventOfAPeerWins) {
    // Peer 1 stops after announcing; peer 2 comes back after stopping.
    const auto cmds = commands_of({entry(1, 1, 0), entry(1, 2, journal_stopped),
                                   entry(1, 1, journal_stopped), entry(1, 2, journal_seeder)});
    ASSERT_GE(cmds.size(), 4U);
    EXPECT_EQ(cmds[0][0], "ZADD");
    ASSERT_EQ(cmds[0].size(), 5U) << "only peer 2";
    EXPECT_EQ(cmds[0][4][3], '\x02');
    EXPECT_EQ(cmds[2][0], "ZREM");
    ASSERT_EQ(cmds[2].size(), 3U);
    EXPECT_EQ(static_cast<unsigned char>(cmds[2][2][3]), 1U) << "peer 1 is removed";
    const auto feed = decode_feed(cmds.back()[9]);
    ASSERT_TRUE(feed);
    EXPECT_EQ(feed->size(), 4U) << "the feed keeps every event in order";
    EXPECT_EQ((*feed)[2].flags, journal_stopped);
}

TEST(WriteBatch, OnlyStoppedPeersTouchNoRegistry) {
    const auto cmds = commands_of({entry(3, 1, journal_stopped)});
    ASSERT_EQ(cmds.size(), 2U);
    EXPECT_EQ(cmds[0][0], "ZREM");
    EXPECT_EQ(cmds[1][0], "XADD");
}

TEST(WriteBatch, OneSwarmInSixteenBatchesTrimsItsExpiredPeers) {
    int trims = 0;
    for (std::uint64_t b = 0; b < 16; ++b) {
        for (const auto& c : commands_of({entry(5, 1, 0)}, b)) {
            if (c[0] == "ZREMRANGEBYSCORE") {
                ++trims;
                EXPECT_EQ(c[2], "-inf");
                EXPECT_EQ(c[3], "(2000000");
            }
        }
    }
    EXPECT_EQ(trims, 1);
}

TEST(WriteBatch, AnEmptyBatchSendsNothing) {
    EXPECT_TRUE(commands_of({}).empty());
}

TEST(RewriteFilter, WritesAPeerOncePerWindowUnlessSomethingChanged) {
    using namespace std::chrono_literals;
    rewrite_filter f(60s);
    const rewrite_filter::clock::time_point t0{1000s};
    EXPECT_TRUE(f.admit(entry(1, 1, 0), t0));
    EXPECT_FALSE(f.admit(entry(1, 1, 0), t0 + 10s)) << "a repeat within the window";
    EXPECT_TRUE(f.admit(entry(1, 2, 0), t0 + 10s)) << "another peer";
    EXPECT_TRUE(f.admit(entry(2, 1, 0), t0 + 10s)) << "the same peer in another swarm";
    EXPECT_TRUE(f.admit(entry(1, 1, journal_seeder), t0 + 11s)) << "a role change";
    EXPECT_TRUE(f.admit(entry(1, 1, journal_stopped), t0 + 12s));
    EXPECT_TRUE(f.admit(entry(1, 1, journal_stopped), t0 + 12s)) << "events always pass";
    EXPECT_TRUE(f.admit(entry(1, 1, journal_completed | journal_seeder), t0 + 13s));
    EXPECT_FALSE(f.admit(entry(1, 1, 0), t0 + 59s));
    EXPECT_TRUE(f.admit(entry(1, 1, 0), t0 + 61s)) << "a new window";
    EXPECT_FALSE(f.admit(entry(1, 1, 0), t0 + 62s));
    f.clear();
    EXPECT_TRUE(f.admit(entry(1, 1, 0), t0 + 63s)) << "cleared after a reconnect";
    std::vector<journal_entry> batch{entry(3, 1, 0), entry(3, 1, 0), entry(3, 2, 0),
                                     entry(3, 1, journal_stopped)};
    f.filter(batch, t0 + 64s);
    ASSERT_EQ(batch.size(), 3U);
    EXPECT_EQ(batch[1].endpoint[3], 2);
    EXPECT_EQ(batch[2].flags, journal_stopped);
}

TEST(RewriteFilter, RemembersEveryPeerOfAWindowHoweverManyAndForgetsThemWhenFull) {
    using namespace std::chrono_literals;
    const rewrite_filter::clock::time_point t0{1000s};
    // 64 swarms x 250 hosts: the table grows many times over and still finds every key.
    rewrite_filter f(60s, 16001);
    for (int round = 0; round < 2; ++round) {
        int admitted = 0;
        for (int s = 0; s < 64; ++s) {
            for (int h = 0; h < 250; ++h) {
                admitted += f.admit(entry(static_cast<std::uint8_t>(s),
                                          static_cast<std::uint8_t>(h), 0),
                                    t0 + 1s)
                                ? 1
                                : 0;
            }
        }
        EXPECT_EQ(admitted, round == 0 ? 16000 : 0) << "round " << round;
    }
    EXPECT_EQ(f.size(), 16000U);
    EXPECT_TRUE(f.admit(entry(200, 1, 0), t0 + 2s));
    EXPECT_EQ(f.size(), 16001U);
    // Full: the next announce starts a new window, so every peer may be written once more.
    EXPECT_TRUE(f.admit(entry(0, 0, 0), t0 + 2s))
        << "written in this window, but the table was full";
    EXPECT_EQ(f.size(), 1U);
    EXPECT_TRUE(f.admit(entry(200, 1, 0), t0 + 3s));
    EXPECT_FALSE(f.admit(entry(0, 0, 0), t0 + 3s));
}

}  // namespace
}  // namespace minibit::tracker
