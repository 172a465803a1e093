// Issue 14, part 1: a restarted tracker keeps its swarms through --state-file. Real
// minibit-tracker and minibit-peer processes: a seeder announces (the interval is 1800 s, so it
// does not announce again during the test), the tracker stops (SIGTERM: the final snapshot; or
// SIGKILL: the periodic one), three leechers start while it is down, and the same tracker comes
// back on the same port 3 s later with its state file. The leechers' retried announces find the
// seeder only through the file; each must complete with a verified copy. The process moves into
// a network namespace of its own when it may, so the fixed port is private.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "fault_fixture.hpp"
#include "random_bytes.hpp"
#include "skip_or_fail.hpp"

namespace minibit::faults {
namespace {

constexpr std::uint64_t piece_bytes = 64 * 1024;
constexpr std::size_t piece_count = 48;  // 3 MiB: a second or two per leecher on loopback

using minibit::testing::random_bytes;

/// The whole content of a file ("" when missing).
std::string file_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The scenario of issue 14 with the tracker ended by `sig`.
void restart_keeps_the_swarm(int sig) {
    (void)private_network();  // isolation when allowed; plain loopback otherwise
    temp_dir dir;
    const std::uint16_t port = free_port();
    ASSERT_NE(port, 0);
    const std::string original = random_bytes(piece_count * piece_bytes, 14);
    fs::create_directories(dir.path / "seed");
    std::ofstream(dir.path / "seed" / "data.bin", std::ios::binary) << original;
    const std::string peer = program("MINIBIT_PEER");
    const std::string torrent = (dir.path / "t.torrent").string();
    ASSERT_TRUE(run_output({peer, "create", (dir.path / "seed" / "data.bin").string(), "--tracker",
                            fmt::format("http://127.0.0.1:{}/announce", port), "--piece-size",
                            std::to_string(piece_bytes), "-o", torrent},
                           dir.path / "create.log"));
    const std::string state = (dir.path / "swarms.state").string();
    const std::vector<std::string> flags{"--state-file", state, "--state-interval", "1",
                                         "--log-level",  "info"};
    auto tracker = std::make_unique<tracker_process>(port, dir.path / "tracker1.log", flags);
    ASSERT_TRUE(tracker->ready());
    child seeder({peer, "seed", torrent, (dir.path / "seed").string(), "--log",
                  (dir.path / "seed.log").string()},
                 dir.path / "seed.out");
    ASSERT_TRUE(wait_until([&] { return tracker_stat(port, "seeders") == 1; }, 20s));
    // SIGKILL relies on the periodic snapshot: give it two periods to catch the announce.
    if (sig == SIGKILL) std::this_thread::sleep_for(2500ms);
    tracker->proc->signal(sig);
    ASSERT_EQ(tracker->proc->wait_for(10s), sig == SIGKILL ? 128 + SIGKILL : 0);
    tracker.reset();
    const auto stopped = steady::now();

    std::vector<std::unique_ptr<child>> leechers;
    for (const char* name : {"l1", "l2", "l3"}) {
        leechers.push_back(std::make_unique<child>(
            std::vector<std::string>{peer, "get", torrent, "-o", (dir.path / name).string(),
                                     "--seed-for", "600", "--complete-file",
                                     (dir.path / (std::string(name) + ".done")).string(), "--log",
                                     (dir.path / (std::string(name) + ".log")).string()},
            dir.path / (std::string(name) + ".out")));
    }
    std::this_thread::sleep_until(stopped + 3s);
    tracker = std::make_unique<tracker_process>(port, dir.path / "tracker2.log", flags);
    ASSERT_TRUE(tracker->ready()) << "the tracker could not come back on its port";
    EXPECT_EQ(tracker_stat(port, "seeders"), 1) << "the seeder came back from the state file";
    const auto restarted = steady::now();
    for (const char* name : {"l1", "l2", "l3"}) {
        EXPECT_TRUE(wait_until([&] { return fs::exists(dir.path / (std::string(name) + ".done")); },
                               60s, 100ms))
            << name << " did not complete";
    }
    const double done_after = seconds_between(restarted, steady::now());
    for (auto& l : leechers) l->signal(SIGTERM);
    seeder.signal(SIGTERM);
    for (auto& l : leechers) EXPECT_EQ(l->wait_for(10s), 0);
    EXPECT_EQ(seeder.wait_for(10s), 0);
    for (const char* name : {"l1", "l2", "l3"}) {
        EXPECT_TRUE(file_text(dir.path / name / "data.bin") == original)
            << name << "'s copy differs from the original";
    }
    const std::string log = file_text(dir.path / "tracker2.log");
    EXPECT_NE(log.find("state: loaded 1 peers of 1 swarms"), std::string::npos) << log;
    std::printf("restart after %s: all 3 leechers complete %.1f s after the tracker came back\n",
                sig == SIGKILL ? "SIGKILL" : "SIGTERM", done_after);
}

TEST(TrackerState, StoppedTrackerRestartsWithItsSwarmAndLateLeechersComplete) {
    restart_keeps_the_swarm(SIGTERM);
}

TEST(TrackerState, KilledTrackerRestartsFromItsPeriodicSnapshot) {
    restart_keeps_the_swarm(SIGKILL);
}

TEST(TrackerState, ADamagedStateFileIsReportedAndTheTrackerStartsEmpty) {
    temp_dir dir;
    const std::uint16_t port = free_port();
    const fs::path state = dir.path / "swarms.state";
    std::ofstream(state, std::ios::binary) << std::string("MBSTATE\0", 8) << std::string(100, 'x');
    tracker_process t(port, dir.path / "tracker.log",
                      {"--state-file", state.string(), "--log-level", "info"});
    ASSERT_TRUE(t.ready());
    EXPECT_EQ(tracker_stat(port, "peers"), 0);
    t.proc->signal(SIGTERM);
    EXPECT_EQ(t.proc->wait_for(10s), 0);
    const std::string log = file_text(dir.path / "tracker.log");
    EXPECT_NE(log.find("state: ignoring"), std::string::npos) << log;
    // The stopped tracker replaced it with a good (empty) file.
    const std::string after = file_text(state);
    EXPECT_EQ(after.size(), 56U);
}

}  // namespace
}  // namespace minibit::faults
