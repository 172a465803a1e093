// A private redis-server for tests of the tracker's shared store: started by the test on a Unix
// socket in the test's temp folder, without persistence, stopped (and restarted on the same
// socket) at will, killed when the test ends. Plus small readers of the tracker's /stats.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include "fault_fixture.hpp"

namespace minibit::faults {

/// The redis-server program, or "" when it is not installed.
inline std::string redis_server_program() {
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
        if (::access(p, X_OK) == 0) return p;
    }
    return {};
}

/// redis-server on `dir`/redis.sock.
class redis_process {
public:
    explicit redis_process(fs::path dir) : dir_(std::move(dir)), socket_(dir_ / "redis.sock") {}

    /// The --store value that reaches it.
    [[nodiscard]] std::string url() const { return "unix://" + socket_.string(); }

    /// Starts it and waits (at most 10 s) until it answers PING.
    bool start() {
        std::error_code ec;
        fs::remove(socket_, ec);
        proc_ = std::make_unique<child>(
            std::vector<std::string>{redis_server_program(), "--port", "0", "--unixsocket",
                                     socket_.string(), "--unixsocketperm", "700", "--save", "",
                                     "--appendonly", "no", "--dir", dir_.string()},
            dir_ / "redis.log");
        return wait_until([&] { return command("PING") == "+PONG"; }, 10s, 50ms);
    }

    /// Stops it with `sig` and reaps it.
    void stop(int sig = SIGTERM) {
        if (!proc_) return;
        proc_->signal(sig);
        (void)proc_->wait_for(10s);
        proc_.reset();
    }

    /// One inline command; the first line of the reply ("" when Redis does not answer).
    std::string command(const std::string& line) const {
        fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, socket_.c_str(), sizeof(a.sun_path) - 1);
        timeval tv{2, 0};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return {};
        const std::string req = line + "\r\n";
        if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(req.size())) {
            return {};
        }
        std::string out;
        char c = 0;
        while (test_io::recv_retry(fd.get(), &c, 1, 0) == 1 && c != '\r') out += c;
        return out;
    }

private:
    fs::path dir_;
    fs::path socket_;
    std::unique_ptr<child> proc_;
};

/// The text of a "key":"value" string in a tracker's /stats, or "" when absent or unanswered.
inline std::string tracker_text(std::uint16_t port, std::string_view key) {
    const std::string r = http_get(port, "/stats", 2000ms);
    const std::string pat = "\"" + std::string(key) + "\":\"";
    const auto at = r.find(pat);
    if (at == std::string::npos) return {};
    const auto end = r.find('"', at + pat.size());
    return end == std::string::npos ? std::string()
                                    : r.substr(at + pat.size(), end - at - pat.size());
}

/// A whole file's text ("" when missing).
inline std::string file_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// How many times `needle` occurs in `hay`.
inline std::size_t count_of(const std::string& hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace minibit::faults
