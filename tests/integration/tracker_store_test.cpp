// Issue 14, part 2: several minibit-tracker processes share one swarm through a real
// redis-server (started here on a Unix socket in the test's folder; the tests skip without
// redis-server, and fail under CI=true). Announces go alternately to two trackers and a scrape on
// either shows the whole swarm; stopped and completed events travel too; a tracker started later
// learns the swarm; Redis stopped and started again costs no tracker and they resynchronise;
// and real peers complete their downloads when one tracker is killed, or Redis stopped, mid-swarm
// (a BEP 12 announce-list with both trackers in one tier; the loopback is shaped in a private
// network namespace so the swarm is still running when it happens).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>

#include "minibit/wire/tracker_http.hpp"
#include "random_bytes.hpp"
#include "redis_fixture.hpp"
#include "skip_or_fail.hpp"

namespace minibit::faults {
namespace {

/// Fast write-through and refresh so the tests wait little; intervals short for real peers.
std::vector<std::string> store_flags(const std::string& url) {
    return {"--store",    url, "--store-flush-ms", "20", "--store-refresh-ms", "100",
            "--interval", "2", "--min-interval",   "1",  "--log-level",        "info"};
}

info_hash test_hash(std::uint8_t n) {
    info_hash h;
    for (std::size_t i = 0; i < h.bytes.size(); ++i)
        h.bytes[i] = static_cast<std::uint8_t>(n * 31 + i);
    return h;
}

/// One HTTP announce from 127.0.0.1:peer_port; the parsed answer, or nullopt.
std::optional<wire::announce_response> announce(
    std::uint16_t tracker, const info_hash& h, std::uint16_t peer_port, std::uint64_t left,
    wire::announce_event ev = wire::announce_event::none) {
    wire::announce_request req;
    req.hash = h;
    req.peer_id.fill(static_cast<std::uint8_t>('a' + peer_port % 26));
    req.port = peer_port;
    req.left = left;
    req.event = ev;
    req.numwant = 200;
    const std::string r = http_get(tracker, "/announce?" + wire::build_announce_query(req));
    const auto body = r.find("\r\n\r\n");
    if (!r.starts_with("HTTP/1.1 200") || body == std::string::npos) return std::nullopt;
    auto parsed = wire::parse_announce_response(r.substr(body + 4), wire::http_response_limits{});
    if (!parsed) return std::nullopt;
    return *parsed;
}

/// The scrape counters of one torrent on one tracker.
std::optional<wire::scrape_entry> scrape(std::uint16_t tracker, const info_hash& h) {
    const std::string r = http_get(tracker, "/scrape?info_hash=" + wire::percent_encode(h.bytes));
    const auto body = r.find("\r\n\r\n");
    if (!r.starts_with("HTTP/1.1 200") || body == std::string::npos) return std::nullopt;
    auto parsed = wire::parse_scrape_response(r.substr(body + 4), wire::http_response_limits{});
    if (!parsed) return std::nullopt;
    if (parsed->empty()) return wire::scrape_entry{h, 0, 0, 0};
    return parsed->front();
}

/// True when `tracker` scrapes (complete, incomplete) for h.
bool scrapes(std::uint16_t tracker, const info_hash& h, std::uint32_t complete,
             std::uint32_t incomplete) {
    const auto s = scrape(tracker, h);
    return s && s->complete == complete && s->incomplete == incomplete;
}

/// "complete/incomplete/downloaded" of a scrape, for failure messages.
std::string describe(std::uint16_t tracker, const info_hash& h) {
    const auto s = scrape(tracker, h);
    return s ? fmt::format("{}/{}/{}", s->complete, s->incomplete, s->downloaded) : "no answer";
}

/// The ports of the peers in an answer.
std::set<std::uint16_t> ports_of(const wire::announce_response& a) {
    std::set<std::uint16_t> out;
    for (std::size_t i = 0; i + 6 <= a.peers4.size(); i += 6) {
        out.insert(static_cast<std::uint16_t>((a.peers4[i + 4] << 8U) | a.peers4[i + 5]));
    }
    return out;
}

class TrackerStore : public ::testing::Test {
protected:
    void SetUp() override {
        if (redis_server_program().empty()) MINIBIT_SKIP_OR_FAIL("redis-server is not installed");
        (void)private_network();  // isolation when allowed; plain loopback otherwise
        redis_ = std::make_unique<redis_process>(dir_.path);
        ASSERT_TRUE(redis_->start()) << file_text(dir_.path / "redis.log");
    }
    /// A tracker on a free port sharing the test's Redis, once it serves and its store is up.
    std::unique_ptr<tracker_process> start_tracker(const std::string& name) {
        auto t = std::make_unique<tracker_process>(free_port(), dir_.path / (name + ".log"),
                                                   store_flags(redis_->url()));
        EXPECT_TRUE(t->ready()) << file_text(dir_.path / (name + ".log"));
        EXPECT_TRUE(wait_until([&] { return tracker_text(t->port, "state") == "up"; }, 10s))
            << "store state " << tracker_text(t->port, "state");
        return t;
    }
    temp_dir dir_;
    std::unique_ptr<redis_process> redis_;
};

TEST_F(TrackerStore, PeersAnnouncedToEitherTrackerFormOneSwarm) {
    auto a = start_tracker("a");
    auto b = start_tracker("b");
    const info_hash h = test_hash(1);
    // 20 peers, 5 of them seeders, alternately to each tracker.
    for (std::uint16_t i = 0; i < 20; ++i) {
        ASSERT_TRUE(announce(i % 2 == 0 ? a->port : b->port, h, 7000 + i, i < 5 ? 0 : 100,
                             wire::announce_event::started));
    }
    for (auto* t : {a.get(), b.get()}) {
        EXPECT_TRUE(wait_until([&] { return scrapes(t->port, h, 5, 15); }, 5s))
            << "scrape on " << t->port << ": " << describe(t->port, h);
    }
    // Each tracker's answers sample the whole swarm, its own peers and the other's.
    const auto seen = announce(a->port, h, 7100, 100);
    ASSERT_TRUE(seen);
    std::set<std::uint16_t> all;
    for (std::uint16_t i = 0; i < 20; ++i) all.insert(7000 + i);
    EXPECT_EQ(ports_of(*seen), all);
    // A seeder stops and a leecher completes, each told to B: A sees both (20 + its 7100).
    ASSERT_TRUE(announce(b->port, h, 7001, 0, wire::announce_event::stopped));
    ASSERT_TRUE(announce(b->port, h, 7019, 0, wire::announce_event::completed));
    EXPECT_TRUE(wait_until([&] { return scrapes(a->port, h, 5, 15); }, 5s)) << describe(a->port, h);
    EXPECT_TRUE(wait_until(
        [&] { return scrape(a->port, h).value_or(wire::scrape_entry{}).downloaded == 1; }, 5s));
    // A tracker started now learns the swarm from the store.
    auto c = start_tracker("c");
    EXPECT_TRUE(wait_until([&] { return scrapes(c->port, h, 5, 15); }, 5s)) << describe(c->port, h);
    EXPECT_EQ(tracker_stat(c->port, "outages"), 0);
}

TEST_F(TrackerStore, RedisStoppedAndStartedAgainCostsNoTrackerAndTheyResynchronise) {
    auto a = start_tracker("a");
    auto b = start_tracker("b");
    const info_hash h = test_hash(2);
    for (std::uint16_t i = 0; i < 4; ++i) ASSERT_TRUE(announce(a->port, h, 7200 + i, 100));
    ASSERT_TRUE(wait_until([&] { return scrapes(b->port, h, 0, 4); }, 5s));

    redis_->stop();
    for (auto* t : {a.get(), b.get()}) {
        EXPECT_TRUE(wait_until([&] { return tracker_text(t->port, "state") == "down"; }, 10s));
        const std::string metrics = http_get(t->port, "/metrics");
        EXPECT_NE(metrics.find("minibit_tracker_store_up 0"), std::string::npos) << metrics;
    }
    // Both keep answering from their own tables.
    for (std::uint16_t i = 4; i < 8; ++i) ASSERT_TRUE(announce(a->port, h, 7200 + i, 0));
    const auto on_b = announce(b->port, h, 7300, 100);
    ASSERT_TRUE(on_b);
    EXPECT_EQ(ports_of(*on_b).size(), 4U) << "B still serves what it had";
    std::this_thread::sleep_for(1500ms);  // a few failed reconnects: still one log line each

    ASSERT_TRUE(redis_->start()) << "an empty Redis comes back";
    for (auto* t : {a.get(), b.get()}) {
        EXPECT_TRUE(wait_until([&] { return tracker_text(t->port, "state") == "up"; }, 15s));
    }
    // A pushed the announces of the outage; B pulled them (and A got B's peer).
    EXPECT_TRUE(wait_until([&] { return scrapes(b->port, h, 4, 5); }, 5s))
        << "B: " << scrape(b->port, h).value_or(wire::scrape_entry{}).complete;
    EXPECT_TRUE(wait_until([&] { return scrapes(a->port, h, 4, 5); }, 5s));
    for (auto* t : {a.get(), b.get()}) {
        EXPECT_TRUE(t->proc->running());
        EXPECT_EQ(tracker_stat(t->port, "outages"), 1);
    }
    for (const char* name : {"a", "b"}) {
        const std::string log = file_text(dir_.path / (std::string(name) + ".log"));
        EXPECT_EQ(count_of(log, "unreachable"), 1U) << log;
        EXPECT_EQ(count_of(log, "store: synchronised"), 2U) << log;
    }
}

// ---- real peers ---------------------------------------------------------------------------

constexpr std::uint64_t piece_bytes = 256 * 1024;
constexpr std::size_t piece_count = 24;  // 6 MiB per copy; ~12 s for 3 copies at 1.5 MB/s

using minibit::testing::random_bytes;

/// Pieces of `copy` equal to the original's.
std::size_t pieces_on_disk(const std::string& original, const fs::path& copy) {
    const std::string got = file_text(copy);
    std::size_t good = 0;
    for (std::size_t at = 0; at + piece_bytes <= original.size() && at + piece_bytes <= got.size();
         at += piece_bytes) {
        if (original.compare(at, piece_bytes, got, at, piece_bytes) == 0) ++good;
    }
    return good;
}

enum class mid_swarm { kill_a_tracker, stop_redis };

/// A seeder and 3 leechers; torrents list both trackers in one tier, in both orders, so the
/// peers announce alternately to each. `fault` happens once the transfer is under way.
void run_swarm(mid_swarm fault) {
    if (redis_server_program().empty()) MINIBIT_SKIP_OR_FAIL("redis-server is not installed");
    if (!private_network()) MINIBIT_SKIP_OR_FAIL("needs a private network namespace (root)");
    temp_dir dir;
    const shaped_loopback shape("12mbit", dir.path / "tc.log");
    if (!shape.ok()) MINIBIT_SKIP_OR_FAIL("tc cannot shape the loopback (no tbf qdisc?)");
    redis_process redis(dir.path);
    ASSERT_TRUE(redis.start());
    std::array<std::unique_ptr<tracker_process>, 2> trackers;
    for (std::size_t i = 0; i < 2; ++i) {
        trackers[i] = std::make_unique<tracker_process>(static_cast<std::uint16_t>(6969 + i),
                                                        dir.path / fmt::format("t{}.log", i),
                                                        store_flags(redis.url()));
        ASSERT_TRUE(trackers[i]->ready());
    }
    const std::string original = random_bytes(piece_count * piece_bytes, 15);
    fs::create_directories(dir.path / "seed");
    std::ofstream(dir.path / "seed" / "data.bin", std::ios::binary) << original;
    const std::string peer = program("MINIBIT_PEER");
    std::array<std::string, 2> torrent;  // [A, B] and [B, A]: one info hash
    for (std::size_t i = 0; i < 2; ++i) {
        torrent[i] = (dir.path / fmt::format("order{}.torrent", i)).string();
        ASSERT_TRUE(
            run_output({peer, "create", (dir.path / "seed" / "data.bin").string(), "--tracker",
                        fmt::format("http://127.0.0.1:{}/announce", 6969 + i), "--tracker",
                        fmt::format("http://127.0.0.1:{}/announce", 6970 - i), "--one-tier",
                        "--piece-size", std::to_string(piece_bytes), "-o", torrent[i]},
                       dir.path / "create.log"));
    }
    child seeder({peer, "seed", torrent[0], (dir.path / "seed").string(), "--log",
                  (dir.path / "seed.log").string()},
                 dir.path / "seed.out");
    std::vector<std::unique_ptr<child>> leechers;
    const std::array<const char*, 3> names{"l1", "l2", "l3"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string name = names[i];
        leechers.push_back(std::make_unique<child>(
            std::vector<std::string>{peer, "get", torrent[(i + 1) % 2], "-o",
                                     (dir.path / name).string(), "--seed-for", "600",
                                     "--complete-file", (dir.path / (name + ".done")).string(),
                                     "--log", (dir.path / (name + ".log")).string()},
            dir.path / (name + ".out")));
    }
    auto have = [&] {
        std::size_t n = 0;
        for (const char* name : names) n += pieces_on_disk(original, dir.path / name / "data.bin");
        return n;
    };
    ASSERT_TRUE(wait_until([&] { return have() >= 4; }, 30s, 100ms)) << "the transfer never began";
    const std::size_t at_fault = have();
    ASSERT_LT(at_fault, names.size() * piece_count) << "complete before the fault: proves nothing";
    if (fault == mid_swarm::kill_a_tracker) {
        trackers[0]->proc->signal(SIGKILL);
        ASSERT_EQ(trackers[0]->proc->wait_for(5s), 128 + SIGKILL);
    } else {
        redis.stop();
        EXPECT_TRUE(wait_until([&] { return tracker_text(6969, "state") == "down"; }, 10s));
        std::this_thread::sleep_for(2s);
        ASSERT_TRUE(redis.start());
    }
    for (const char* name : names) {
        EXPECT_TRUE(wait_until([&] { return fs::exists(dir.path / (std::string(name) + ".done")); },
                               90s, 200ms))
            << name << " did not complete";
    }
    const std::uint16_t survivor = 6970;
    EXPECT_TRUE(trackers[1]->proc->running());
    if (fault == mid_swarm::kill_a_tracker) {
        // Every peer moved to the survivor: it sees the whole swarm, all seeding now.
        EXPECT_TRUE(wait_until([&] { return tracker_stat(survivor, "seeders") == 4; }, 20s))
            << "seeders on the survivor: " << tracker_stat(survivor, "seeders").value_or(-1);
    } else {
        EXPECT_TRUE(trackers[0]->proc->running());
        for (const std::uint16_t port : {6969, 6970}) {
            EXPECT_TRUE(wait_until([&] { return tracker_text(port, "state") == "up"; }, 15s));
            EXPECT_EQ(tracker_stat(port, "outages"), 1);
        }
    }
    for (auto& l : leechers) l->signal(SIGTERM);
    seeder.signal(SIGTERM);
    for (auto& l : leechers) EXPECT_EQ(l->wait_for(10s), 0);
    EXPECT_EQ(seeder.wait_for(10s), 0);
    for (const char* name : names) {
        EXPECT_TRUE(file_text(dir.path / name / "data.bin") == original)
            << name << "'s copy differs";
    }
    std::printf("%s: %zu/%zu pieces when it happened; every copy verified\n",
                fault == mid_swarm::kill_a_tracker ? "tracker killed" : "Redis stopped", at_fault,
                names.size() * piece_count);
}

TEST(TrackerStoreSwarm, OneTrackerKilledMidSwarmEveryLeecherCompletesThroughTheOther) {
    run_swarm(mid_swarm::kill_a_tracker);
}

TEST(TrackerStoreSwarm, RedisStoppedMidSwarmNoTrackerDiesAndTheSwarmCompletes) {
    run_swarm(mid_swarm::stop_redis);
}

}  // namespace
}  // namespace minibit::faults
