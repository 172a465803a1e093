// TCP data paths on both back ends: echo with many clients, a 64 MiB ordered transfer, streams
// into a reactor short of receive buffers, borrowed sends, close after flush, backpressure, pausing
// inside a delivery, and 1000 idle connections.
#include <sys/resource.h>

#include <algorithm>
#include <map>
#include <vector>

#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

/// Starts every accepted connection as an echo server on reactor `r`.
accept_fn echo_server(reactor& r) {
    return [&r](connection c, const address&) {
        const conn_id id = c.id();
        ASSERT_TRUE(r.start(id, {[&r, id](std::span<const std::byte> data) {
                                     ASSERT_TRUE(r.send(id, {data.begin(), data.end()}));
                                 },
                                 nullptr})
                        .has_value());
    };
}

TEST_P(ReactorTest, EchoServesManyConcurrentClients) {
    const auto where = listen_loopback(echo_server(*r_));
    constexpr int clients = 50;
    constexpr int messages = 10;
    std::map<int, std::string> received;
    std::map<int, std::string> expected;
    for (int c = 0; c < clients; ++c) {
        for (int m = 0; m < messages; ++m) {
            expected[c] += "client " + std::to_string(c) + " message " + std::to_string(m) + ";";
        }
        r_->connect(where, [this, c, &received](result<connection> conn) {
            ASSERT_TRUE(conn.has_value()) << conn.error().message();
            const conn_id id = conn->id();
            ASSERT_TRUE(r_->start(id, {[c, &received](std::span<const std::byte> data) {
                                           received[c] += string_of(data);
                                       },
                                       nullptr}));
            for (int m = 0; m < messages; ++m) {
                const auto text = "client " + std::to_string(c) + " message " + std::to_string(m) +
                                  ";";
                ASSERT_TRUE(r_->send(id, bytes_of(text)));
            }
        });
    }
    auto all_done = [&] {
        for (int c = 0; c < clients; ++c) {
            if (received[c].size() < expected[c].size()) {
                return false;
            }
        }
        return true;
    };
    ASSERT_TRUE(spin(*r_, all_done));
    EXPECT_EQ(received, expected);
    EXPECT_EQ(r_->connection_count(), 2U * clients);
}

TEST_P(ReactorTest, LargeTransferKeepsOrderAcrossManyQueuedSends) {
    static constexpr std::size_t chunk = 16 * 1024;
    static constexpr std::size_t total = 64U * 1024 * 1024;
    const auto where = listen_loopback([this](connection c, const address&) {
        ASSERT_TRUE(r_->start(c.id(), {nullptr, nullptr}));
        for (std::size_t off = 0; off < total; off += chunk) {
            ASSERT_TRUE(r_->send(c.id(), pattern(off, chunk)));
        }
        EXPECT_EQ(*r_->bytes_queued(c.id()), total);
    });
    std::size_t got = 0;
    std::size_t first_bad = total;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        ASSERT_TRUE(r_->start(conn->id(), {[&](std::span<const std::byte> data) {
                                               for (std::size_t i = 0; i < data.size(); ++i) {
                                                   if (data[i] != pattern_byte(got + i) &&
                                                       first_bad == total) {
                                                       first_bad = got + i;
                                                   }
                                               }
                                               got += data.size();
                                           },
                                           nullptr}));
    });
    ASSERT_TRUE(spin(
        *r_, [&] { return got >= total; }, std::chrono::seconds(60)));
    EXPECT_EQ(got, total);
    EXPECT_EQ(first_bad, total) << "first wrong byte at stream offset " << first_bad;
}

// io_uring hands the kernel one receive buffer at start here (recv_buffers_at_start = 1): the
// first bursts find none left (ENOBUFS ends the multishot receive), the set doubles and the
// receive is armed again. 16 streams of 2 MiB into such a reactor arrive whole and in order.
TEST_P(ReactorTest, StreamsIntoAReactorThatStartsWithOneReceiveBufferArriveWholeAndInOrder) {
    reactor_options o;
    o.recv_buffer_count = 64;
    o.recv_buffer_size_bytes = 4096;
    o.recv_buffers_at_start = 1;
    auto made = make_reactor(GetParam(), o);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    static constexpr std::size_t chunk = 64 * 1024;
    static constexpr std::size_t total = 2U * 1024 * 1024;
    static constexpr std::size_t streams = 16;
    std::vector<pattern_stream> in(streams, pattern_stream(total));
    std::size_t accepted = 0;
    auto listener = r.listen(
        address::loopback_v4(0), listen_options{}, [&](connection c, const address&) {
            pattern_stream* s = &in.at(accepted++);
            ASSERT_TRUE(
                r.start(c.id(), {[s](std::span<const std::byte> d) { s->take(d); }, nullptr}));
        });
    ASSERT_TRUE(listener.has_value());
    const auto where = r.local_address(*listener);
    ASSERT_TRUE(where.has_value());
    for (std::size_t c = 0; c < streams; ++c) {
        r.connect(*where, [&r](result<connection> conn) {
            ASSERT_TRUE(conn.has_value()) << conn.error().message();
            ASSERT_TRUE(r.start(conn->id(), {nullptr, nullptr}));
            for (std::size_t off = 0; off < total; off += chunk) {
                ASSERT_TRUE(r.send(conn->id(), pattern(off, chunk)));
            }
        });
    }
    expect_whole_streams(r, accepted, in);
}

TEST_P(ReactorTest, BorrowedSendsReleaseInOrderAfterTheyAreSent) {
    constexpr std::size_t slices = 64;
    constexpr std::size_t slice = 16 * 1024;
    const std::vector<std::byte> mapping = pattern(0, slices * slice);  // stands in for an mmap
    std::vector<std::size_t> released;
    int release_errors = 0;
    const auto where = listen_loopback([&](connection c, const address&) {
        ASSERT_TRUE(r_->start(c.id(), {nullptr, nullptr}));
        for (std::size_t i = 0; i < slices; ++i) {
            const std::span<const std::byte> part(mapping.data() + i * slice, slice);
            ASSERT_TRUE(r_->send_borrowed(c.id(), part, [&, i](const std::optional<error>& e) {
                release_errors += e.has_value() ? 1 : 0;
                released.push_back(i);
            }));
        }
    });
    std::vector<std::byte> got;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        ASSERT_TRUE(r_->start(conn->id(), {[&](std::span<const std::byte> data) {
                                               got.insert(got.end(), data.begin(), data.end());
                                           },
                                           nullptr}));
    });
    ASSERT_TRUE(
        spin(*r_, [&] { return got.size() >= mapping.size() && released.size() == slices; }));
    EXPECT_EQ(got, mapping);
    EXPECT_EQ(release_errors, 0);
    for (std::size_t i = 0; i < slices; ++i) {
        EXPECT_EQ(released[i], i);
    }
}

TEST_P(ReactorTest, CloseAfterFlushDeliversEverythingQueuedThenEnds) {
    constexpr std::size_t total = 4U * 1024 * 1024;
    const auto where = listen_loopback([&](connection c, const address&) {
        ASSERT_TRUE(r_->start(c.id(), {nullptr, nullptr}));
        ASSERT_TRUE(r_->send(c.id(), pattern(0, total)));
        r_->close(c.id(), close_mode::after_flush);
        EXPECT_FALSE(r_->send(c.id(), pattern(0, 1)).has_value());
    });
    std::vector<std::byte> got;
    int closes = 0;
    std::optional<error> close_error;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        ASSERT_TRUE(r_->start(conn->id(), {[&](std::span<const std::byte> d) {
                                               got.insert(got.end(), d.begin(), d.end());
                                           },
                                           [&](const std::optional<error>& e) {
                                               ++closes;
                                               close_error = e;
                                           }}));
    });
    ASSERT_TRUE(spin(*r_, [&] { return closes > 0; }));
    EXPECT_EQ(got, pattern(0, total));
    EXPECT_EQ(closes, 1);
    EXPECT_FALSE(close_error.has_value());
    EXPECT_EQ(r_->connection_count(), 0U);
}

TEST_P(ReactorTest, PausedReadingDeliversNothingAndPushesBackOnTheSender) {
    constexpr std::size_t total = 32U * 1024 * 1024;
    std::size_t got = 0;
    conn_id server{};
    bool accepted = false;
    const auto where = listen_loopback([&](connection c, const address&) {
        server = c.id();
        accepted = true;
        ASSERT_TRUE(
            r_->start(c.id(), {[&](std::span<const std::byte> d) { got += d.size(); }, nullptr}));
        ASSERT_TRUE(r_->pause_reading(c.id()));
    });
    conn_id client{};
    bool connected = false;
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        client = conn->id();
        connected = true;
        ASSERT_TRUE(r_->start(client, {nullptr, nullptr}));
        ASSERT_TRUE(r_->send(client, pattern(0, total)));
    });
    ASSERT_TRUE(spin(*r_, [&] { return accepted && connected; }));
    // Let the sender fill every socket buffer: its queue stops shrinking (bounded turns).
    std::size_t queued = *r_->bytes_queued(client);
    int stable_turns = 0;
    for (int i = 0; i < 2000 && stable_turns < 30; ++i) {
        ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(2)));
        const std::size_t now_queued = *r_->bytes_queued(client);
        stable_turns = now_queued == queued ? stable_turns + 1 : 0;
        queued = now_queued;
    }
    EXPECT_EQ(got, 0U);
    EXPECT_GT(queued, 0U) << "the paused reader should have pushed back on the sender";
    ASSERT_TRUE(r_->resume_reading(server));
    ASSERT_TRUE(spin(*r_, [&] { return got >= total; }));
    EXPECT_EQ(got, total);
    EXPECT_EQ(*r_->bytes_queued(client), 0U);
}

TEST_P(ReactorTest, AReaderThatPausesInEachDeliveryGetsOneBufferPerResume) {
    // A download cap pauses inside the delivery that used up its budget. Whatever the kernel
    // already handed over (io_uring keeps receiving until the cancel lands) must then wait for
    // the resume and come back one receive buffer at a time, never as one burst.
    constexpr std::size_t total = 4U * 1024 * 1024;
    const std::size_t slice = reactor_options{}.recv_buffer_size_bytes;
    std::size_t got = 0;
    std::size_t largest = 0;
    int while_paused = 0;
    bool paused = false;
    conn_id server{};
    const auto where = listen_loopback([&](connection c, const address&) {
        server = c.id();
        ASSERT_TRUE(r_->start(server, {[&](std::span<const std::byte> d) {
                                           while_paused += paused ? 1 : 0;
                                           got += d.size();
                                           largest = std::max(largest, d.size());
                                           paused = true;
                                           ASSERT_TRUE(r_->pause_reading(server));
                                       },
                                       nullptr}));
    });
    r_->connect(where, [&](result<connection> conn) {
        ASSERT_TRUE(conn.has_value());
        ASSERT_TRUE(r_->start(conn->id(), {nullptr, nullptr}));
        ASSERT_TRUE(r_->send(conn->id(), pattern(0, total)));
    });
    ASSERT_TRUE(spin(*r_, [&] { return got > 0; }));
    for (int resumes = 0; got < total && resumes < 4096; ++resumes) {
        for (int turn = 0; turn < 3; ++turn) {  // turns while paused: nothing may arrive
            ASSERT_TRUE(r_->run_once(std::chrono::milliseconds(1)));
        }
        const std::size_t before = got;
        paused = false;
        ASSERT_TRUE(r_->resume_reading(server));
        ASSERT_TRUE(spin(*r_, [&] { return got > before; }));
    }
    EXPECT_EQ(got, total);
    EXPECT_EQ(while_paused, 0);
    EXPECT_LE(largest, slice);
}

TEST_P(ReactorTest, ThousandIdleConnectionsAllWork) {
    constexpr int count = 1000;
    rlimit lim{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_cur < 2 * count + 100) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 2 * count + 100);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
    }
    const auto where = listen_loopback(echo_server(*r_));
    std::vector<conn_id> clients;
    int echoed = 0;
    int closed = 0;
    for (int i = 0; i < count; ++i) {
        r_->connect(where, [&](result<connection> conn) {
            ASSERT_TRUE(conn.has_value()) << conn.error().message();
            clients.push_back(conn->id());
            ASSERT_TRUE(r_->start(conn->id(), {[&](std::span<const std::byte> d) {
                                                   echoed += static_cast<int>(d.size());
                                               },
                                               [&](const std::optional<error>&) { ++closed; }}));
        });
    }
    ASSERT_TRUE(
        spin(*r_, [&] { return clients.size() == count && r_->connection_count() == 2 * count; }));
    for (const auto id : clients) {
        ASSERT_TRUE(r_->send(id, bytes_of("x")));
    }
    ASSERT_TRUE(spin(*r_, [&] { return echoed == count; }));
    for (const auto id : clients) {
        r_->close(id);
    }
    ASSERT_TRUE(spin(*r_, [&] { return closed == count && r_->connection_count() == 0; }));
    EXPECT_EQ(echoed, count);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

}  // namespace
}  // namespace minibit::io::testing
