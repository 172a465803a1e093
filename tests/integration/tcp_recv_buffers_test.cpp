// Receive buffers on both back ends: a reactor with only two receive buffers keeps delivering
// whole, ordered streams after connections were closed with data in flight.
#include <vector>

#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

// Two 4 KiB receive buffers in all (io_uring; epoll reads into one buffer anyway). First 40
// connections are closed by the receiving side after their first delivery, with more data on
// its way, so receives complete for connections that are closing. A buffer lost or handed out
// twice on that path would stall or corrupt the four streams that follow.
TEST_P(ReactorTest, TwoReceiveBuffersOutliveClosedConnectionsAndStillDeliverWholeStreams) {
    reactor_options o;
    o.recv_buffer_count = 2;
    o.recv_buffer_size_bytes = 4096;
    o.recv_buffers_at_start = 1;
    auto made = make_reactor(GetParam(), o);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    reactor& r = **made;
    constexpr int doomed = 40;
    constexpr std::size_t streams = 4;
    constexpr std::size_t total = std::size_t{2} * 1024 * 1024;
    int closed = 0;
    bool checking = false;
    std::vector<pattern_stream> in(streams, pattern_stream(total));
    std::size_t accepted = 0;
    auto listener = r.listen(
        address::loopback_v4(0), listen_options{}, [&](connection c, const address&) {
            const conn_id id = c.id();
            if (!checking) {
                ASSERT_TRUE(r.start(id, {[&r, id](std::span<const std::byte>) { r.close(id); },
                                         [&](const std::optional<error>&) { ++closed; }}));
                return;
            }
            pattern_stream* s = &in.at(accepted++);
            ASSERT_TRUE(r.start(id, {[s](std::span<const std::byte> d) { s->take(d); }, nullptr}));
        });
    ASSERT_TRUE(listener.has_value());
    const auto where = r.local_address(*listener);
    ASSERT_TRUE(where.has_value());
    static constexpr std::size_t chunk = std::size_t{64} * 1024;
    auto send_stream = [&r](std::size_t bytes) {
        return [&r, bytes](result<connection> conn) {
            ASSERT_TRUE(conn.has_value()) << conn.error().message();
            ASSERT_TRUE(r.start(
                conn->id(),
                {nullptr, [&r, id = conn->id()](const std::optional<error>&) { r.close(id); }}));
            for (std::size_t off = 0; off < bytes; off += chunk) {
                ASSERT_TRUE(r.send(conn->id(), pattern(off, chunk)));
            }
        };
    };
    for (int i = 0; i < doomed; ++i) {
        r.connect(*where, send_stream(std::size_t{256} * 1024));
    }
    ASSERT_TRUE(spin(
        r, [&] { return closed == doomed; }, std::chrono::seconds(60)));
    checking = true;
    for (std::size_t i = 0; i < streams; ++i) {
        r.connect(*where, send_stream(total));
    }
    expect_whole_streams(r, accepted, in);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

}  // namespace
}  // namespace minibit::io::testing
