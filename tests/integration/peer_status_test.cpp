// Issue 11 defect 4, silence when stuck: real minibit-peer processes whose stderr is a pipe
// (no terminal, as under journald) against an http:// tracker on a closed loopback port and a
// UDP tracker that never answers. Within 5 s a line names the tracker and why; a status line
// follows every few seconds; the run always ends with one summary line, and a timeout names
// the tracker. A tracker that comes back is reported as answering again.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include <fmt/format.h>
#include <string>
#include <vector>

#include "fault_fixture.hpp"

namespace minibit::faults {
namespace {

/// One line of a child's stderr and when it arrived (seconds after the spawn).
struct timed_line {
    double at = 0.0;
    std::string text;
};

/// A child whose stderr is a pipe the test reads line by line; stdout goes to /dev/null.
class piped_child {
public:
    explicit piped_child(const std::vector<std::string>& args) : started_(steady::now()) {
        int fds[2] = {-1, -1};
        if (::pipe2(fds, O_CLOEXEC) != 0) return;
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
        if (::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
        ::close(fds[1]);
        fd_ = fds[0];
    }
    ~piped_child() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    piped_child(const piped_child&) = delete;
    piped_child& operator=(const piped_child&) = delete;

    /// Reads stderr until end of file (the child exited) or `limit`; returns the exit status.
    std::optional<int> read_to_end(std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        std::string partial;
        char buf[4096];
        while (fd_ >= 0 && steady::now() < end) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            partial.append(buf, static_cast<std::size_t>(n));
            for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
                lines.push_back({seconds_between(started_, steady::now()), partial.substr(0, nl)});
                partial.erase(0, nl + 1);
            }
        }
        int st = 0;
        while (pid_ > 0 && steady::now() < end + 5s) {
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        return status_;
    }
    /// The first line containing every one of `parts`, or nullptr.
    [[nodiscard]] const timed_line* find(std::initializer_list<std::string_view> parts) const {
        for (const auto& l : lines) {
            if (std::all_of(parts.begin(), parts.end(), [&](std::string_view p) {
                    return l.text.find(p) != std::string::npos;
                })) {
                return &l;
            }
        }
        return nullptr;
    }
    [[nodiscard]] std::string all() const {
        std::string out;
        for (const auto& l : lines) out += fmt::format("[{:.2f}] {}\n", l.at, l.text);
        return out;
    }

    std::vector<timed_line> lines;

private:
    steady::time_point started_;
    pid_t pid_ = -1;
    int fd_ = -1;
    std::optional<int> status_;
};

class PeerStatus : public ::testing::Test {
protected:
    void SetUp() override {
        peer_ = program("MINIBIT_PEER");
        tracker_ = program("MINIBIT_TRACKER");
        ASSERT_FALSE(peer_.empty()) << "MINIBIT_PEER not set";
        std::ofstream(dir_.path / "data.bin") << std::string(300000, 'm');
    }
    /// Creates a torrent of data.bin announcing to `url`; returns its path.
    std::string make_torrent(const std::string& url) {
        const auto out = dir_.path / "data.torrent";
        const auto r = run_output({peer_, "create", (dir_.path / "data.bin").string(), "--tracker",
                                   url, "-o", out.string()},
                                  dir_.path / "create.log");
        EXPECT_TRUE(r);
        return out.string();
    }

    temp_dir dir_;
    std::string peer_;
    std::string tracker_;
};

/// A UDP socket bound on loopback that never answers.
struct silent_udp {
    silent_udp() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = loopback(0);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~silent_udp() { ::close(fd); }
    silent_udp(const silent_udp&) = delete;
    silent_udp& operator=(const silent_udp&) = delete;
    int fd = -1;
    std::uint16_t port = 0;
};

TEST_F(PeerStatus, UnreachableHttpTrackerIsNamedWithinFiveSecondsAndTheRunEndsWithASummary) {
    const std::string url = fmt::format("http://127.0.0.1:{}/announce", free_port());
    const auto torrent = make_torrent(url);
    piped_child get({peer_, "get", torrent, "-o", (dir_.path / "out").string(), "--timeout", "7"});
    const auto status = get.read_to_end(30s);
    ASSERT_EQ(status, 1) << get.all();
    const auto* failed = get.find({url, "failed", "refused"});
    ASSERT_NE(failed, nullptr) << get.all();
    EXPECT_LT(failed->at, 5.0) << get.all();
    // Told once, not per retry (the client retried after 5 s).
    EXPECT_EQ(std::count_if(get.lines.begin(), get.lines.end(),
                            [&](const timed_line& l) {
                                return l.text.find("failed") != std::string::npos &&
                                       l.text.find(url) != std::string::npos &&
                                       l.text.find("timed out") == std::string::npos;
                            }),
              1)
        << get.all();
    // No terminal: a status line every 5 s, with the tracker's state.
    EXPECT_NE(get.find({"0.0%", "peers 0", "tracker failing"}), nullptr) << get.all();
    EXPECT_NE(get.find({"get timed out:", "0 B (0 bytes) downloaded", "0/", "pieces verified"}),
              nullptr)
        << get.all();
    EXPECT_NE(get.lines.back().text.find("timed out with 0/"), std::string::npos) << get.all();
    EXPECT_NE(get.lines.back().text.find(url), std::string::npos) << get.all();
}

TEST_F(PeerStatus, SilentUdpTrackerIsNamedWithinFiveSecondsAndInTheTimeout) {
    silent_udp udp;
    const std::string url = fmt::format("udp://127.0.0.1:{}/announce", udp.port);
    const auto torrent = make_torrent(url);
    piped_child get({peer_, "get", torrent, "-o", (dir_.path / "out").string(), "--timeout", "6"});
    const auto status = get.read_to_end(30s);
    ASSERT_EQ(status, 1) << get.all();
    const auto* silent = get.find({url, "no answer"});
    ASSERT_NE(silent, nullptr) << get.all();
    EXPECT_LT(silent->at, 5.0) << get.all();
    EXPECT_NE(get.find({"get timed out:", "pieces verified"}), nullptr) << get.all();
    const std::string& last = get.lines.back().text;
    EXPECT_NE(last.find("timed out"), std::string::npos) << get.all();
    EXPECT_NE(last.find(url), std::string::npos) << get.all();
}

TEST_F(PeerStatus, ATrackerThatComesBackIsReportedAndTheDownloadCompletes) {
    ASSERT_FALSE(tracker_.empty()) << "MINIBIT_TRACKER not set";
    const auto port = free_port();
    const std::string url = fmt::format("http://127.0.0.1:{}/announce", port);
    const auto torrent = make_torrent(url);
    child seeder({peer_, "seed", torrent, dir_.path.string(), "--for", "40"},
                 dir_.path / "seed.log");
    piped_child get({peer_, "get", torrent, "-o", (dir_.path / "out").string(), "--timeout", "30"});
    std::this_thread::sleep_for(1500ms);  // both have failed their first announce by now
    child tracker({tracker_, "--http", fmt::format("127.0.0.1:{}", port), "--udp", "off",
                   "--interval", "2", "--min-interval", "1", "--log-level", "warn"},
                  dir_.path / "tracker.log");
    const auto status = get.read_to_end(40s);
    ASSERT_EQ(status, 0) << get.all();
    const auto* failed = get.find({url, "failed"});
    const auto* back = get.find({url, "answers again"});
    ASSERT_NE(failed, nullptr) << get.all();
    ASSERT_NE(back, nullptr) << get.all();
    EXPECT_LT(failed->at, back->at);
    EXPECT_NE(get.find({"get complete:", "(300000 bytes) downloaded", "pieces verified"}), nullptr)
        << get.all();
}

}  // namespace
}  // namespace minibit::faults
