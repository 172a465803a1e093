// Helpers of the fault-injection tests: child processes of our programs (spawned, signalled,
// reaped even when a test fails), a private network namespace with a shaped loopback, raw
// client sockets, a small HTTP GET, /stats numbers and a process's resident memory.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

#include "eintr.hpp"
#include "temp_dir.hpp"

namespace minibit::faults {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Seconds between two time points, as a double.
inline double seconds_between(steady::time_point a, steady::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

/// The program named by an environment variable meson sets (MINIBIT_TRACKER, MINIBIT_PEER).
inline std::string program(const char* env) {
    const char* p = std::getenv(env);
    return p != nullptr ? std::string(p) : std::string();
}

/// A temp folder removed at the end of the test.
struct temp_dir : minibit::testing::temp_dir {
    temp_dir() : minibit::testing::temp_dir("minibit-faults-") {}
};

/// A child process with stdout and stderr appended to a log file; killed and reaped by the
/// destructor if it is still running.
class child {
public:
    child(const std::vector<std::string>& args, const fs::path& log) {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    ~child() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            (void)wait_for(5s);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool running() { return pid_ > 0 && !status_ && !poll_exit(); }
    void signal(int sig) const {
        if (pid_ > 0) ::kill(pid_, sig);
    }
    /// The exit status (128 + signal when killed), or nullopt if still running after `limit`.
    std::optional<int> wait_for(std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!status_ && pid_ > 0) {
            if (poll_exit() || steady::now() >= end) break;
            std::this_thread::sleep_for(10ms);
        }
        return status_;
    }

private:
    bool poll_exit() {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
    }
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// Runs a program to its end (bounded) and returns its output, or nullopt on failure.
inline std::optional<std::string> run_output(const std::vector<std::string>& args,
                                             const fs::path& log) {
    std::error_code ec;
    fs::remove(log, ec);
    child c(args, log);
    const auto st = c.wait_for(60s);
    if (st != 0) return std::nullopt;
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Moves this test process (and every child it starts later) into a network namespace of its
/// own with its loopback up: the flood, the shaping and the fixed ports touch nobody else.
/// Needs CAP_SYS_ADMIN; false (and nothing changed) without it. Done once per process.
inline bool private_network() {
    static const bool done = [] {
        if (::unshare(CLONE_NEWNET) != 0) return false;
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        bool up = fd >= 0 && ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        up = up && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
        if (fd >= 0) ::close(fd);
        return up;
    }();
    return done;
}

/// A token-bucket limit on the (private) loopback for the life of the object (tc tbf).
class shaped_loopback {
public:
    shaped_loopback(const std::string& rate, const fs::path& log) : log_(log) {
        ok_ = run_output({tc_path(), "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate,
                          "burst", "256kb", "latency", "200ms"},
                         log_)
                  .has_value();
    }
    ~shaped_loopback() {
        if (ok_) (void)run_output({tc_path(), "qdisc", "del", "dev", "lo", "root"}, log_);
    }
    shaped_loopback(const shaped_loopback&) = delete;
    shaped_loopback& operator=(const shaped_loopback&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }

    static std::string tc_path() {
        for (const char* p : {"/usr/sbin/tc", "/sbin/tc", "/usr/bin/tc"}) {
            if (::access(p, X_OK) == 0) return p;
        }
        return "tc";
    }

private:
    fs::path log_;
    bool ok_ = false;
};

/// Raises the open-file limit towards `want` (at most the hard limit); returns the new limit.
inline rlim_t raise_file_limit(rlim_t want) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = std::min(want, rl.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/// An IPv4 loopback socket address.
inline sockaddr_in loopback(std::uint16_t port, const char* ip = "127.0.0.1") {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
inline std::uint16_t free_port() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a = loopback(0);
        socklen_t len = sizeof a;
        ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::getsockname(t, reinterpret_cast<sockaddr*>(&a), &len);
        const int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const bool ok = ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(t);
        ::close(u);
        if (ok) return ntohs(a.sin_port);
    }
    return 0;
}

/// An owned file descriptor.
class fd_guard {
public:
    explicit fd_guard(int fd = -1) : fd_(fd) {}
    ~fd_guard() { reset(); }
    fd_guard(fd_guard&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    fd_guard& operator=(fd_guard&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

/// A blocking TCP connection to 127.0.0.1:port with send/receive timeouts; -1 on failure.
inline fd_guard tcp_connect(std::uint16_t port, std::chrono::milliseconds timeout) {
    fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const auto ms = timeout.count();
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const sockaddr_in a = loopback(port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        return fd_guard();
    return fd;
}

/// One HTTP/1.1 GET with Connection: close; the whole response, or "" on any failure.
inline std::string http_get(std::uint16_t port, const std::string& target,
                            std::chrono::milliseconds timeout = 3000ms) {
    fd_guard fd = tcp_connect(port, timeout);
    if (fd.get() < 0) return {};
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (test_io::send_retry(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(req.size())) {
        return {};
    }
    std::string out;
    char buf[4096];
    while (true) {
        const ssize_t n = test_io::recv_retry(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

/// The number after "key": in a JSON text (first occurrence), if any.
inline std::optional<long long> json_number(const std::string& json, std::string_view key) {
    const std::string pat = "\"" + std::string(key) + "\":";
    const auto at = json.find(pat);
    if (at == std::string::npos) return std::nullopt;
    std::size_t used = 0;
    try {
        return std::stoll(json.substr(at + pat.size()), &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

/// A counter from the tracker's /stats, or nullopt when the tracker does not answer.
inline std::optional<long long> tracker_stat(std::uint16_t port, std::string_view key) {
    const std::string r = http_get(port, "/stats", 2000ms);
    const auto body = r.find("\r\n\r\n");
    if (!r.starts_with("HTTP/1.1 200") || body == std::string::npos) return std::nullopt;
    return json_number(r.substr(body + 4), key);
}

/// Resident memory of a process in KiB (VmRSS), 0 when unknown.
inline long vm_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return 0;
}

/// How many times slower and bigger a sanitized build of our program runs: 10 under TSan, 4
/// under ASan, else 1 (read from the runtime libraries mapped into the process, as g++ links
/// them). The tests multiply their time and memory slack by it.
inline int sanitizer_slack(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string maps = ss.str();
    if (maps.find("libtsan") != std::string::npos) return 10;
    if (maps.find("libasan") != std::string::npos) return 4;
    return 1;
}

/// Polls `done` every `step` until it holds or `limit` passes; returns done().
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = 100ms) {
    const auto end = steady::now() + limit;
    while (!done()) {
        if (steady::now() >= end) return done();
        std::this_thread::sleep_for(step);
    }
    return true;
}

/// A running minibit-tracker on 127.0.0.1:port (HTTP and UDP), ready when constructed.
struct tracker_process {
    std::uint16_t port = 0;
    std::unique_ptr<child> proc;

    tracker_process(std::uint16_t p, const fs::path& log, const std::vector<std::string>& extra)
        : port(p) {
        const std::string at = "127.0.0.1:" + std::to_string(port);
        std::vector<std::string> args{
            program("MINIBIT_TRACKER"), "--http", at, "--udp", at, "--log-level", "warn"};
        args.insert(args.end(), extra.begin(), extra.end());
        proc = std::make_unique<child>(args, log);
    }
    /// Waits until /stats answers (or the process ended); true when it serves.
    bool ready() {
        return wait_until(
                   [&] { return !proc->running() || tracker_stat(port, "peers").has_value(); }, 10s,
                   50ms) &&
               proc->running();
    }
};

/// Median and maximum of a list of samples (0 when empty).
inline std::pair<double, double> median_max(std::vector<double> v) {
    if (v.empty()) return {0.0, 0.0};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.back()};
}

}  // namespace minibit::faults
