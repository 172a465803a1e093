// Issue 11 defect 8: the systemd watchdog is fed only while every reactor thread runs its loop.
// The feeding logic (apps/tracker/reactor_heartbeat) over real reactor threads, one of them
// wedged by a task that blocks; and the real minibit-tracker talking systemd's notify protocol
// to a datagram socket of this test ($NOTIFY_SOCKET, $WATCHDOG_USEC), as systemd would see it.
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstdlib>

#include <fmt/format.h>

#include "../../src/apps/tracker/reactor_heartbeat.hpp"
#include "fault_fixture.hpp"
#include "minibit/io/runner.hpp"

namespace minibit::faults {
namespace {

// Polls `beat` every 10 ms for at most `limit`; true once it reported a complete round.
bool beats_within(apps::reactor_heartbeat& beat, std::chrono::milliseconds limit) {
    const auto end = steady::now() + limit;
    while (steady::now() < end) {
        if (beat.poll()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

TEST(TrackerWatchdog, AWedgedReactorStopsTheHeartbeatAndItsReturnResumesIt) {
    io::runner_options opts;
    opts.threads = 3;
    auto r = io::runner::start(opts, [](io::reactor&, unsigned) {});
    ASSERT_TRUE(r) << r.error().message();
    io::runner& threads = **r;
    apps::reactor_heartbeat beat(threads.size(), [&threads](unsigned i, io::task_fn task) {
        threads.post(i, std::move(task));
    });
    ASSERT_TRUE(beats_within(beat, 5s)) << "live reactors never answered";
    ASSERT_TRUE(beats_within(beat, 5s));
    // Reactor 1 gets stuck in a callback, bounded at 20 s so the test cannot hang.
    std::atomic<bool> release{false};
    threads.post(1, [&release] {
        const auto end = steady::now() + 20s;
        while (!release.load() && steady::now() < end) std::this_thread::sleep_for(5ms);
    });
    // The round already posted may still complete (its no-op ran before the wedge); after
    // that, nothing more while reactor 1 is stuck.
    (void)beats_within(beat, 300ms);
    EXPECT_FALSE(beats_within(beat, 1s)) << "fed while a reactor was wedged";
    release.store(true);
    EXPECT_TRUE(beats_within(beat, 5s)) << "no heartbeat after the reactor came back";
    threads.stop();
    threads.join();
}

// A datagram socket bound to a path, as systemd's notify socket is.
struct notify_socket {
    fd_guard fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    fs::path path;
    explicit notify_socket(fs::path p) : path(std::move(p)) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        timeval tv{0, 100'000};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    // The messages received within `limit`, until `last` arrives.
    std::vector<std::string> read(std::chrono::milliseconds limit, const std::string& last) {
        std::vector<std::string> got;
        const auto end = steady::now() + limit;
        while (steady::now() < end) {
            std::array<char, 256> buf{};
            const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
            if (n <= 0) continue;
            got.emplace_back(buf.data(), static_cast<std::size_t>(n));
            if (got.back() == last) break;
        }
        return got;
    }
};

std::size_t count_of(const std::vector<std::string>& v, const std::string& what) {
    return static_cast<std::size_t>(std::count(v.begin(), v.end(), what));
}

TEST(TrackerWatchdog, TrackerUnderANotifySocketSaysReadyFeedsTheWatchdogAndSaysStopping) {
    const std::string tracker = program("MINIBIT_TRACKER");
    ASSERT_FALSE(tracker.empty()) << "MINIBIT_TRACKER unset";
    temp_dir dir;
    notify_socket sock(dir.path / "notify");
    // As systemd does with WatchdogSec=1s: the tracker pings every 0.5 s.
    ::setenv("NOTIFY_SOCKET", sock.path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "1000000", 1);
    const std::uint16_t port = free_port();
    child t(
        {tracker, "--http", fmt::format("127.0.0.1:{}", port), "--udp", "off", "--threads", "2"},
        dir.path / "tracker.log");
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    const auto first = sock.read(10s, "READY=1");
    ASSERT_EQ(count_of(first, "READY=1"), 1U);
    const auto pings = sock.read(2500ms, "");
    EXPECT_GE(count_of(pings, "WATCHDOG=1"), 2U) << "expected about one ping per 0.5 s";
    EXPECT_LE(count_of(pings, "WATCHDOG=1"), 8U);
    t.signal(SIGTERM);
    EXPECT_EQ(t.wait_for(10s), 0);
    EXPECT_EQ(count_of(sock.read(1s, "STOPPING=1"), "STOPPING=1"), 1U);
}

}  // namespace
}  // namespace minibit::faults
