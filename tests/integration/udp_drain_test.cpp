// UDP reading on both back ends: every datagram queued before a wake-up is read and answered in
// order; one loop turn delivers at most reactor_options::udp_datagrams_per_turn and later turns
// the rest without new traffic; with reactor_options::udp_hold a busy socket's bursts are all
// answered and a lone datagram after them too, and connections are served during a hold; with
// reactor_options::udp_batch_sends the answers leave in batches, all of them; a reply
// the kernel refuses is reported and the others still go; a socket closed by its own callback
// delivers nothing more. The client side is a plain nonblocking POSIX socket, so datagrams can
// be queued while the reactor is not running.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "eintr.hpp"
#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

/// A nonblocking UDP socket on 127.0.0.1:0, closed on destruction.
class raw_udp {
public:
    raw_udp() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        const address any = address::loopback_v4(0);
        EXPECT_EQ(::bind(fd_, any.data(), any.size()), 0);
    }
    raw_udp(const raw_udp&) = delete;
    raw_udp& operator=(const raw_udp&) = delete;
    ~raw_udp() { ::close(fd_); }

    void send(const std::string& text, const address& to) const {
        ASSERT_EQ(::sendto(fd_, text.data(), text.size(), 0, to.data(), to.size()),
                  static_cast<ssize_t>(text.size()));
    }
    /// The next datagram, or "" when none comes within 2 s.
    std::string receive() const {
        pollfd p{fd_, POLLIN, 0};
        if (test_io::poll_retry(&p, 1, 2000) != 1) {
            return "";
        }
        std::string buf(70000, '\0');
        const auto n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        return n < 0 ? "" : buf.substr(0, static_cast<std::size_t>(n));
    }
    /// The bound address.
    address local() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len), 0);
        return address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    }
    /// True when nothing is queued.
    bool idle() const {
        char c = 0;
        return ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0;
    }

private:
    int fd_;
};

using UdpDrainTest = ReactorTest;

/// An echo server on r: answers each datagram with "re:" + its text; records what it saw.
struct echo_server {
    udp_id id{};
    address where;
    std::vector<std::string> seen;
};

void bind_echo(reactor& r, echo_server& s) {
    auto bound = r.bind_udp(address::loopback_v4(0), reuse_port::no,
                            [&r, &s](std::span<const std::byte> d, const address& from) {
                                s.seen.push_back(string_of(d));
                                EXPECT_TRUE(r.send_to(s.id, bytes_of("re:" + string_of(d)), from));
                            });
    ASSERT_TRUE(bound.has_value());
    s.id = *bound;
    s.where = *r.local_address(s.id);
}

TEST_P(UdpDrainTest, EveryQueuedDatagramIsReadAndAnsweredInOrder) {
    echo_server server;
    bind_echo(*r_, server);
    raw_udp client;
    constexpr int count = 150;  // all queued before the first wake-up
    for (int i = 0; i < count; ++i) {
        client.send("n" + std::to_string(i), server.where);
    }
    ASSERT_TRUE(spin(*r_, [&] { return server.seen.size() == count; }));
    for (int i = 0; i < count; ++i) {
        EXPECT_EQ(server.seen[static_cast<std::size_t>(i)], "n" + std::to_string(i));
        ASSERT_EQ(client.receive(), "re:n" + std::to_string(i));
    }
    EXPECT_TRUE(client.idle());
}

TEST_P(UdpDrainTest, AHeldBusySocketAnswersEveryBurstAndLaterALoneDatagram) {
    // udp_hold (io_uring; epoll reads at once): bursts make the socket busy, so its reads wait
    // for the hold; nothing may be lost or reordered, and once quiet a lone datagram is read.
    reactor_options options;
    options.udp_hold = std::chrono::milliseconds(2);
    auto made = make_reactor(GetParam(), options);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    echo_server server;
    bind_echo(r, server);
    raw_udp client;
    int sent = 0;
    for (int burst = 0; burst < 20; ++burst) {
        for (int i = 0; i < 10; ++i, ++sent) {
            client.send("n" + std::to_string(sent), server.where);
        }
        ASSERT_TRUE(spin(r, [&] { return server.seen.size() == static_cast<std::size_t>(sent); }))
            << "burst " << burst;
    }
    for (int i = 0; i < sent; ++i) {
        ASSERT_EQ(client.receive(), "re:n" + std::to_string(i));
    }
    ::usleep(20000);  // quiet for 10 holds: the next read is on arrival
    client.send("lone", server.where);
    ASSERT_TRUE(spin(r, [&] { return server.seen.size() == static_cast<std::size_t>(sent) + 1; }));
    EXPECT_EQ(client.receive(), "re:lone");
    EXPECT_TRUE(client.idle());
}

TEST_P(UdpDrainTest, ConnectionsAreServedAtOnceWhileABusySocketIsHeld) {
    // A burst queued before the first read makes the socket busy; with no rate measured yet
    // its hold is the whole udp_hold (4 s), far longer than a TCP exchange on loopback takes.
    // The connection is served during the hold (io_uring: the held datagram still waits), and
    // after it every datagram is answered, in order, also those answered by one sendmmsg.
    reactor_options options;
    options.udp_hold = std::chrono::seconds(4);
    options.udp_batch_sends = true;
    auto made = make_reactor(GetParam(), options);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    echo_server server;
    bind_echo(r, server);
    raw_udp client;
    for (int i = 0; i < 10; ++i) {
        client.send("n" + std::to_string(i), server.where);
    }
    ASSERT_TRUE(spin(r, [&] { return server.seen.size() == 10; }));
    client.send("held", server.where);
    auto listener = r.listen(
        address::loopback_v4(0), listen_options{}, [&r](connection c, const address&) {
            const conn_id id = c.id();
            ASSERT_TRUE(r.start(id, {[&r, id](std::span<const std::byte> d) {
                                         (void)r.send(id, {d.begin(), d.end()});
                                     },
                                     nullptr}));
        });
    ASSERT_TRUE(listener.has_value());
    std::string echoed;
    r.connect(*r.local_address(*listener), [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value()) << conn.error().message();
        const conn_id id = conn->id();
        ASSERT_TRUE(r.start(
            id, {[&echoed](std::span<const std::byte> d) { echoed += string_of(d); }, nullptr}));
        ASSERT_TRUE(r.send(id, bytes_of("ping")));
    });
    ASSERT_TRUE(spin(r, [&] { return echoed == "ping"; }));
    if (GetParam() == backend_kind::uring) {
        EXPECT_EQ(server.seen.size(), 10U) << "the held socket was read before its hold ended";
    }
    ASSERT_TRUE(spin(r, [&] { return server.seen.size() == 11; }));
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(client.receive(), "re:n" + std::to_string(i));
    }
    EXPECT_EQ(client.receive(), "re:held");
    EXPECT_TRUE(client.idle());
}

TEST_P(UdpDrainTest, BatchedAnswersAllLeaveInOrderAndARefusedOneAloneIsDropped) {
    // udp_batch_sends: answers leave by sendmmsg after each read batch (32 at most), so 150
    // queued datagrams need several batches; an answer the kernel refuses (too large, port 0)
    // cannot be reported by send_to and is dropped alone.
    reactor_options options;
    options.udp_batch_sends = true;
    auto made = make_reactor(GetParam(), options);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    udp_id id{};
    auto bound = r.bind_udp(address::loopback_v4(0), reuse_port::no,
                            [&](std::span<const std::byte> d, const address& from) {
                                const std::string text = string_of(d);
                                if (text == "big") {
                                    const std::vector<std::byte> huge(70000, std::byte{1});
                                    EXPECT_TRUE(r.send_to(id, huge, from));  // staged
                                } else if (text == "nowhere") {
                                    EXPECT_TRUE(r.send_to(id, bytes_of("x"), from.with_port(0)));
                                } else {
                                    EXPECT_TRUE(r.send_to(id, bytes_of("re:" + text), from));
                                }
                            });
    ASSERT_TRUE(bound.has_value());
    id = *bound;
    const address where = *r.local_address(id);
    raw_udp client;
    std::vector<std::string> want;
    for (int i = 0; i < 150; ++i) {
        const std::string text = i % 40 == 5    ? "big"
                                 : i % 40 == 20 ? "nowhere"
                                                : "n" + std::to_string(i);
        client.send(text, where);
        if (text.starts_with("n") && text != "nowhere") {
            want.push_back("re:" + text);
        }
    }
    std::vector<std::string> got;
    for (int i = 0; i < 2000 && got.size() < want.size(); ++i) {
        ASSERT_TRUE(r.run_once(std::chrono::milliseconds(5)).has_value());
        while (!client.idle()) {
            got.push_back(client.receive());
        }
    }
    EXPECT_EQ(got, want);
}

TEST_P(UdpDrainTest, OneTurnDeliversAtMostTheBoundAndLaterTurnsTheRest) {
    reactor_options options;
    options.udp_datagrams_per_turn = 16;
    auto made = make_reactor(GetParam(), options);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    echo_server server;
    bind_echo(r, server);
    raw_udp client;
    for (int i = 0; i < 100; ++i) {
        client.send("n" + std::to_string(i), server.where);
    }
    // The first turns may see readiness before all 100 are queued; none may exceed the bound.
    std::size_t before = 0;
    for (int turn = 0; turn < 1000 && server.seen.size() < 100; ++turn) {
        ASSERT_TRUE(r.run_once(std::chrono::milliseconds(5)).has_value());
        EXPECT_LE(server.seen.size() - before, 16U) << "turn " << turn;
        before = server.seen.size();
    }
    // No datagram arrived after the first 100: the ones above the bound came without new traffic.
    ASSERT_EQ(server.seen.size(), 100U);
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(client.receive(), "re:n" + std::to_string(i));
    }
}

TEST_P(UdpDrainTest, ARefusedReplyIsReportedAndTheOthersStillGo) {
    udp_id id{};
    auto bound = r_->bind_udp(
        address::loopback_v4(0), reuse_port::no,
        [&](std::span<const std::byte> d, const address& from) {
            const std::string text = string_of(d);
            if (text == "big") {
                // Above the 65,507-byte IPv4 datagram limit: EMSGSIZE.
                const std::vector<std::byte> huge(70000, std::byte{1});
                const auto sent = r_->send_to(id, huge, from);
                ASSERT_FALSE(sent);
                EXPECT_NE(sent.error().message().find("sendto"), std::string::npos);
            } else if (text == "nowhere") {
                // Port 0 cannot be sent to: EINVAL for this one alone.
                EXPECT_FALSE(r_->send_to(id, bytes_of("x"), from.with_port(0)));
            } else {
                EXPECT_TRUE(r_->send_to(id, bytes_of("re:" + text), from));
            }
        });
    ASSERT_TRUE(bound.has_value());
    id = *bound;
    const address where = *r_->local_address(id);
    raw_udp client;
    for (const char* text : {"a", "big", "b", "nowhere", "c"}) {
        client.send(text, where);
    }
    std::vector<std::string> got;
    for (int i = 0; i < 200 && got.size() < 3; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(10)).has_value());
        while (!client.idle()) {
            got.push_back(client.receive());
        }
    }
    EXPECT_EQ(got, (std::vector<std::string>{"re:a", "re:b", "re:c"}));
}

TEST_P(UdpDrainTest, ASocketClosedByItsCallbackDeliversNothingMore) {
    udp_id id{};
    int calls = 0;
    auto bound = r_->bind_udp(address::loopback_v4(0), reuse_port::no,
                              [&](std::span<const std::byte> d, const address& from) {
                                  ++calls;
                                  const std::string text = string_of(d);
                                  if (text == "stop") {
                                      r_->close_udp(id);
                                      EXPECT_FALSE(r_->send_to(id, bytes_of("late"), from));
                                      return;
                                  }
                                  EXPECT_TRUE(r_->send_to(id, bytes_of("re:" + text), from));
                              });
    ASSERT_TRUE(bound.has_value());
    id = *bound;
    const address where = *r_->local_address(id);
    raw_udp client;
    for (const char* text : {"a", "b", "stop", "c", "d"}) {
        client.send(text, where);
    }
    ASSERT_TRUE(spin(*r_, [&] { return calls >= 3; }));
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(5)).has_value());
    }
    EXPECT_EQ(calls, 3) << "nothing is delivered after the close";
    EXPECT_EQ(client.receive(), "re:a");
    EXPECT_EQ(client.receive(), "re:b");
    EXPECT_TRUE(client.idle());
}

TEST_P(UdpDrainTest, ForwardsThroughAnotherSocketKeepTheirOrder) {
    // A relay: each datagram to `in` is forwarded through `out` to a sink, while `in` also
    // answers its sender.
    auto out = r_->bind_udp(address::loopback_v4(0), reuse_port::no,
                            [](std::span<const std::byte>, const address&) {});
    ASSERT_TRUE(out.has_value());
    raw_udp sink;
    const address sink_addr = sink.local();
    udp_id in{};
    auto bound = r_->bind_udp(address::loopback_v4(0), reuse_port::no,
                              [&](std::span<const std::byte> d, const address& from) {
                                  EXPECT_TRUE(r_->send_to(*out, d, sink_addr));
                                  EXPECT_TRUE(r_->send_to(in, bytes_of("ok"), from));
                              });
    ASSERT_TRUE(bound.has_value());
    in = *bound;
    raw_udp client;
    constexpr int count = 80;
    for (int i = 0; i < count; ++i) {
        client.send("m" + std::to_string(i), *r_->local_address(in));
    }
    std::vector<std::string> forwarded;
    for (int i = 0; i < 2000 && forwarded.size() < count; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(5)).has_value());
        while (!sink.idle()) {
            forwarded.push_back(sink.receive());
        }
    }
    ASSERT_EQ(forwarded.size(), static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        EXPECT_EQ(forwarded[static_cast<std::size_t>(i)], "m" + std::to_string(i));
        EXPECT_EQ(client.receive(), "ok");
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, UdpDrainTest,
                         ::testing::Values(backend_kind::epoll, backend_kind::uring), backend_name);

}  // namespace
}  // namespace minibit::io::testing
