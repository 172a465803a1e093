// The agent on several reactor threads (issue 12): two agents with --threads 2, four torrents
// spread over both reactors of each, moving data at once under a global upload cap while
// another thread reads the API (list, one torrent, status, metrics) of both all along. Every
// copy ends equal to the original, the capped total stays within 10% of the cap, and every
// read answers. In suite `threads`, so the sanitizer run checks it under ThreadSanitizer.
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "agent_fixture.hpp"

namespace minibit::faults {
namespace {

using steady = std::chrono::steady_clock;

/// Payload bytes `a` received so far, every torrent together (GET /v1/status).
std::uint64_t received(const agent_process& a) {
    const auto r = a.call("GET", "/v1/status");
    const auto j = json::parse(r.body, nullptr, false);
    return j.is_discarded() ? 0 : j.value("bytes_downloaded", 0ULL);
}

/// Reads the API of `agents` in a loop until `stop` (bounded: at most 5,000 rounds); counts
/// the reads that did not answer 200 with the expected shape.
void read_api(const std::vector<const agent_process*>& agents, const info_hash& one,
              const std::atomic<bool>& stop, std::atomic<int>& bad, std::atomic<int>& reads) {
    for (int round = 0; round < 5000 && !stop.load(); ++round) {
        for (const auto* a : agents) {
            const auto list = a->call("GET", "/v1/torrents");
            const auto j = json::parse(list.body, nullptr, false);
            if (list.status != 200 || j.is_discarded() || j["torrents"].size() != 4) ++bad;
            if (a->call("GET", "/v1/torrents/" + one.hex()).status != 200) ++bad;
            if (a->call("GET", "/v1/status").status != 200) ++bad;
            if (a->call("GET", "/metrics").status != 200) ++bad;
            reads += 4;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

TEST(AgentThreads, TorrentsOnTwoReactorsMoveDataAtOnceUnderOneCapWhileTheApiIsRead) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    torrent_set set(src, tracker.port, 4, 3U << 20U);
    constexpr double cap = 2 << 20;

    agent_process origin(dir.path, "origin", src);
    origin.extra = {"--threads", "2", "--max-upload", "2MiB"};
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    agent_process leech(dir.path, "leech", dir.path / "downloads");
    leech.extra = {"--threads", "2"};
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    for (const auto& t : set.torrents) {
        ASSERT_EQ(
            origin.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(t)).status,
            201);
    }
    const auto origin_log = read_all(origin.log);
    EXPECT_NE(origin_log.find("(reactor 0)"), std::string::npos) << origin_log;
    EXPECT_NE(origin_log.find("(reactor 1)"), std::string::npos) << "spread over both";

    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::atomic<int> reads{0};
    for (const auto& t : set.torrents) {
        EXPECT_EQ(
            leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(t)).status,
            201);
    }
    std::thread reader(read_api, std::vector<const agent_process*>{&origin, &leech},
                       set.infos[0].hash, std::cref(stop), std::ref(bad), std::ref(reads));
    // The origin's one global cap holds for its four torrents on two threads together.
    const bool flowing = wait_until([&] { return received(leech) > 512ULL * 1024; }, 20s, 50ms);
    EXPECT_TRUE(flowing) << read_all(leech.log);
    if (flowing) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const auto t0 = steady::now();
        const auto b0 = received(leech);
        std::this_thread::sleep_for(std::chrono::seconds(3));
        const auto b1 = received(leech);
        const std::chrono::duration<double> took = steady::now() - t0;
        const double rate = double(b1 - b0) / took.count();
        std::cout << "4 torrents on 2 reactors under a 2 MiB/s cap: " << rate / (1 << 20)
                  << " MiB/s\n";
        EXPECT_NEAR(rate, cap, cap * 0.10);
    }
    const bool done = wait_until(
        [&] {
            for (const auto& info : set.infos) {
                if (leech.torrent(info.hash).value("state", "") != "seeding") return false;
            }
            return true;
        },
        60s, 100ms);
    stop = true;
    reader.join();
    EXPECT_TRUE(done) << read_all(leech.log);
    for (std::size_t i = 0; i < set.files.size(); ++i) {
        EXPECT_EQ(read_all(leech.downloads / set.files[i].filename()), read_all(set.files[i]))
            << "torrent " << i;
    }
    EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
    EXPECT_GT(reads.load(), 0);
    origin.proc->signal(SIGTERM);
    leech.proc->signal(SIGTERM);
    EXPECT_EQ(origin.proc->wait_for(15s), 0) << read_all(origin.log);
    EXPECT_EQ(leech.proc->wait_for(15s), 0) << read_all(leech.log);
}

}  // namespace
}  // namespace minibit::faults
