// The control server's event streams over a real Unix socket, in process: a client that never
// reads is dropped once its unsent bytes pass the bound (its subscription ended), while a client
// that reads gets every chunk in order; closing the server ends the remaining streams. Clients
// that hold every slot without finishing a head do not lock out a real request.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "minibit/agent/control_server.hpp"
#include "reactor_fixture.hpp"
#include "temp_dir.hpp"

namespace minibit::agent {
namespace {

using io::testing::spin;

/// A connected Unix client socket (non-blocking) that sent `request`.
int client(const std::filesystem::path& socket, const std::string& request) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, socket.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    return fd;
}

/// Reads what is there; false once the peer closed.
bool drain(int fd, std::string& into) {
    char buf[65536];
    while (true) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            into.append(buf, std::size_t(n));
            continue;
        }
        return n < 0;  // EAGAIN: still open; 0: closed
    }
}

TEST(AgentStream, ASlowClientIsDroppedAndAReadingClientGetsEveryChunk) {
    minibit::testing::temp_dir dir("agent-stream-");
    auto r = io::make_reactor(io::backend_kind::epoll, {});
    ASSERT_TRUE(r);
    io::reactor& loop = **r;
    std::vector<stream_sink> sinks;
    int ended = 0;
    auto handler = [&](const api_request&, const respond_fn& respond) {
        api_response resp{200, ": subscribed\n\n", "text/event-stream"};
        resp.stream = [&](stream_sink sink) {
            sinks.push_back(std::move(sink));
            return std::function<void()>([&] { ++ended; });
        };
        respond(std::move(resp));
    };
    control_limits limits;
    limits.max_stream_buffer = std::size_t{64} * 1024;
    const auto path = dir.path / "agent.sock";
    auto server = control_server::open(loop, path, handler, limits);
    ASSERT_TRUE(server) << server.error().message();

    const std::string get = "GET /v1/events HTTP/1.1\r\nHost: t\r\n\r\n";
    const int slow = client(path, get);
    const int fast = client(path, get);
    ASSERT_TRUE(spin(loop, [&] { return sinks.size() == 2; }));

    const std::string chunk = "event: progress\ndata: " + std::string(1000, 'x') + "\n\n";
    constexpr int chunks = 4000;  // ~4 MB: far beyond the slow client's socket buffer and bound
    std::string got;
    int slow_dropped_at = -1;
    for (int i = 0; i < chunks; ++i) {
        if (slow_dropped_at < 0 && !sinks[0](chunk)) slow_dropped_at = i;
        ASSERT_TRUE(sinks[1](chunk)) << "the reading client was dropped at chunk " << i;
        ASSERT_TRUE(loop.run_once(std::chrono::milliseconds(0)).has_value());
        drain(fast, got);
    }
    ASSERT_GE(slow_dropped_at, 0) << "a client that never reads was never dropped";
    EXPECT_EQ(ended, 1) << "the dropped client's subscription ended";
    EXPECT_TRUE(spin(loop, [&] {
        drain(fast, got);
        return got.size() >= chunks * chunk.size();
    }));
    const auto body = got.find("\r\n\r\n: subscribed\n\n");
    ASSERT_NE(body, std::string::npos) << got.substr(0, 200);
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
    EXPECT_EQ(got.size() - body - 4 - 14, chunks * chunk.size()) << "every chunk, none twice";
    // The slow client reads what was sent before the drop, then the end of the stream.
    std::string slow_got;
    EXPECT_TRUE(spin(loop, [&] { return !drain(slow, slow_got); }));
    EXPECT_LT(slow_got.size(), chunks * chunk.size());

    server->reset();
    EXPECT_EQ(ended, 2) << "closing the server ends the remaining stream";
    ::close(slow);
    ::close(fast);
}

TEST(AgentStream, ClientsThatNeverFinishTheirHeadDoNotLockOutARequest) {
    minibit::testing::temp_dir dir("agent-slow-");
    auto r = io::make_reactor(io::backend_kind::epoll, {});
    ASSERT_TRUE(r);
    io::reactor& loop = **r;
    std::vector<stream_sink> sinks;
    auto handler = [&](const api_request& req, const respond_fn& respond) {
        if (req.target == "/v1/events") {
            api_response resp{200, ": subscribed\n\n", "text/event-stream"};
            resp.stream = [&](stream_sink sink) {
                sinks.push_back(std::move(sink));
                return std::function<void()>([] {});
            };
            respond(std::move(resp));
            return;
        }
        respond({200, R"({"ok":true})", "application/json"});
    };
    control_limits limits;
    limits.max_clients = 4;
    const auto path = dir.path / "agent.sock";
    auto server = control_server::open(loop, path, handler, limits);
    ASSERT_TRUE(server) << server.error().message();

    // Twice the cap of clients that send part of a head and then nothing.
    std::vector<int> slow;
    for (int i = 0; i < 8; ++i) {
        slow.push_back(client(path, "GET /v1/sta"));
        ASSERT_TRUE(loop.run_once(std::chrono::milliseconds(0)).has_value());
    }
    const int real = client(path, "GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string got;
    EXPECT_TRUE(spin(loop, [&] { return !drain(real, got); }));
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n")) << got;
    EXPECT_TRUE(got.ends_with(R"({"ok":true})")) << got;
    // The oldest of them made room; the newest still hold theirs.
    std::string first;
    std::string last;
    EXPECT_TRUE(spin(loop, [&] { return !drain(slow.front(), first); }));
    EXPECT_TRUE(drain(slow.back(), last)) << "the newest slow client was closed too";
    ::close(real);

    // Streams are not evicted: with every slot a stream, a new client is told the server is busy.
    for (const int fd : slow) ::close(fd);
    std::vector<int> streams;
    for (int i = 0; i < 4; ++i) {
        streams.push_back(client(path, "GET /v1/events HTTP/1.1\r\nHost: t\r\n\r\n"));
        const auto want = std::size_t(i) + 1;
        ASSERT_TRUE(spin(loop, [&] { return sinks.size() == want; }));
    }
    const int late = client(path, "GET /v1/status HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string busy;
    EXPECT_TRUE(spin(loop, [&] { return !drain(late, busy); }));
    EXPECT_TRUE(busy.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << busy;
    for (const int fd : streams) ::close(fd);
    ::close(late);
}

}  // namespace
}  // namespace minibit::agent
