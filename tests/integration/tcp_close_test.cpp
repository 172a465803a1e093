// Teardown on both back ends: peer closes mid-stream, local close with I/O in flight and then a
// new connection (likely on the reused fd), refused connects, and stale ids.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

using CloseTest = ReactorTest;

TEST_P(CloseTest, PeerClosingMidStreamFiresOnCloseOnce) {
    std::string got;
    int server_closes = 0;
    std::optional<error> server_error;
    const auto where = listen_loopback([&](connection c, const address&) {
        ASSERT_TRUE(r_->start(c.id(), {[&](std::span<const std::byte> d) { got += string_of(d); },
                                       [&](const std::optional<error>& e) {
                                           ++server_closes;
                                           server_error = e;
                                       }}));
    });
    int client_closes = 0;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        ASSERT_TRUE(r_->start(conn->id(),
                              {nullptr, [&](const std::optional<error>&) { ++client_closes; }}));
        ASSERT_TRUE(r_->send(conn->id(), bytes_of("half a mess")));
        r_->close(conn->id(), close_mode::after_flush);
    });
    ASSERT_TRUE(spin(*r_, [&] { return server_closes > 0 && client_closes > 0; }));
    // A few more turns: a second on_close would show up here.
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(1)));
    }
    EXPECT_EQ(got, "half a mess");
    EXPECT_EQ(server_closes, 1);
    EXPECT_EQ(client_closes, 1);
    EXPECT_FALSE(server_error.has_value());
    EXPECT_EQ(r_->connection_count(), 0U);
}

TEST_P(CloseTest, CloseWithIoInFlightReleasesEverythingAndTheNextConnectionIsClean) {
    // The peer never reads, so a large borrowed send stays in flight when we close.
    const std::vector<std::byte> big = pattern(0, 16U * 1024 * 1024);
    std::vector<conn_id> accepted;
    std::string second_got;
    const auto where = listen_loopback([&](connection c, const address&) {
        accepted.push_back(c.id());
        ASSERT_TRUE(r_->start(
            c.id(), {[&](std::span<const std::byte> d) { second_got += string_of(d); }, nullptr}));
        if (accepted.size() == 1) {
            ASSERT_TRUE(r_->pause_reading(c.id()));  // the first peer never reads
        }
    });
    conn_id first{};
    bool connected = false;
    int releases = 0;
    std::optional<error> release_error;
    int closes = 0;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        first = conn->id();
        connected = true;
        ASSERT_TRUE(r_->start(first, {nullptr, [&](const std::optional<error>&) { ++closes; }}));
        ASSERT_TRUE(r_->pause_reading(first));
        ASSERT_TRUE(r_->send_borrowed(first, big, [&](const std::optional<error>& e) {
            ++releases;
            release_error = e;
        }));
    });
    ASSERT_TRUE(spin(*r_, [&] { return accepted.size() == 1 && connected; }));
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(1)));
    }
    ASSERT_GT(*r_->bytes_queued(first), 0U);
    r_->close(first);
    EXPECT_TRUE(is(r_->send(first, bytes_of("late")).error(), io_errc::stale_handle));
    ASSERT_TRUE(spin(*r_, [&] { return closes == 1 && releases == 1; }));
    ASSERT_TRUE(release_error.has_value());
    EXPECT_TRUE(is(*release_error, io_errc::closed));
    // A new connection (its fd number is most likely the one just freed) sees only its own data.
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        EXPECT_NE(conn->id(), first);
        ASSERT_TRUE(r_->start(conn->id(), {nullptr, nullptr}));
        ASSERT_TRUE(r_->send(conn->id(), bytes_of("fresh")));
    });
    ASSERT_TRUE(spin(*r_, [&] { return second_got.size() >= 5; }));
    EXPECT_EQ(second_got, "fresh");
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(releases, 1);
}

TEST_P(CloseTest, PeerResetDuringASendReportsTheErrorOnce) {
    // The server does not read (no recv armed), so its failing send is its only op in flight.
    int closes = 0;
    std::optional<error> why;
    int releases = 0;
    const std::vector<std::byte> big = pattern(0, 16U * 1024 * 1024);
    const auto where = listen_loopback([&](connection c, const address&) {
        ASSERT_TRUE(r_->start(c.id(), {nullptr, [&](const std::optional<error>& e) {
                                           ++closes;
                                           why = e;
                                       }}));
        ASSERT_TRUE(r_->pause_reading(c.id()));
        ASSERT_TRUE(
            r_->send_borrowed(c.id(), big, [&](const std::optional<error>&) { ++releases; }));
    });
    conn_id client{};
    bool connected = false;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        client = conn->id();
        connected = true;
        ASSERT_TRUE(r_->start(client, {nullptr, nullptr}));
        ASSERT_TRUE(r_->pause_reading(client));
    });
    ASSERT_TRUE(spin(*r_, [&] { return connected; }));
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(1)));
    }
    r_->close(client);  // unread data in its receive queue: the kernel answers with RST
    ASSERT_TRUE(spin(*r_, [&] { return closes > 0 && releases > 0; }));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(1)));
    }
    EXPECT_EQ(closes, 1);
    EXPECT_EQ(releases, 1);
    ASSERT_TRUE(why.has_value());
    EXPECT_TRUE(is(*why, io_errc::connection_reset) || is(*why, io_errc::broken_pipe))
        << why->message();
    EXPECT_EQ(r_->connection_count(), 0U);
}

TEST_P(CloseTest, AnswerQueuedForAPeerThatShutDownItsSendingSideStillReachesIt) {
    // `printf 'GET / ...' | nc -N HOST PORT`: the request and the FIN arrive together; the
    // answer the server queues for it must go out before the server closes.
    int closes = 0;
    std::optional<error> why;
    const auto where = listen_loopback([&](connection c, const address&) {
        const conn_id id = c.id();
        ASSERT_TRUE(r_->start(id, {[&, id](std::span<const std::byte> d) {
                                       ASSERT_TRUE(r_->send(id, bytes_of("re: " + string_of(d))));
                                   },
                                   [&](const std::optional<error>& e) {
                                       ++closes;
                                       why = e;
                                   }}));
    });
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::connect(fd, where.data(), where.size()), 0);
    ASSERT_EQ(::send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
    ASSERT_TRUE(spin(*r_, [&] { return closes > 0; }));
    std::string got;
    char buf[64];
    for (ssize_t n = 0; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
        got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(::recv(fd, buf, sizeof buf, MSG_DONTWAIT), 0);  // then the server's FIN
    ::close(fd);
    EXPECT_EQ(got, "re: ping");
    EXPECT_EQ(closes, 1);
    EXPECT_FALSE(why.has_value()) << why->message();
    EXPECT_EQ(r_->connection_count(), 0U);
}

TEST_P(CloseTest, ConnectToAClosedPortGivesConnectionRefused) {
    // Reserve a port and free it again, so nothing listens there.
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(probe, 0);
    auto any = address::loopback_v4(0);
    ASSERT_EQ(::bind(probe, any.data(), any.size()), 0);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    const auto target = address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    ::close(probe);
    std::optional<result<connection>> outcome;
    r_->connect(target, [&](result<connection> conn) { outcome = std::move(conn); });
    ASSERT_TRUE(spin(*r_, [&] { return outcome.has_value(); }));
    ASSERT_FALSE(outcome->has_value());
    EXPECT_TRUE(is(outcome->error(), io_errc::connection_refused)) << outcome->error().message();
    EXPECT_EQ(r_->connection_count(), 0U);
}

TEST_P(CloseTest, UnknownIdsAreRefusedAsStale) {
    const conn_id bogus{(std::uint64_t{7} << 32) | 3U};
    EXPECT_TRUE(is(r_->send(bogus, bytes_of("x")).error(), io_errc::stale_handle));
    EXPECT_TRUE(is(r_->bytes_queued(bogus).error(), io_errc::stale_handle));
    EXPECT_TRUE(is(r_->pause_reading(bogus).error(), io_errc::stale_handle));
    EXPECT_TRUE(is(r_->local_address(listener_id{5}).error(), io_errc::stale_handle));
    r_->close(bogus);  // a no-op, not a crash
}

INSTANTIATE_TEST_SUITE_P(Backends, CloseTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

}  // namespace
}  // namespace minibit::io::testing
