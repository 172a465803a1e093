// reactor::watch_fd on both back ends, with a Unix socket pair the test owns: readiness is
// level-triggered (reported again while data stays unread), follows interest changes (adding
// write to a read watch, pausing with none), reports a hang-up, and stops at once when unwatched,
// even from inside its own callback; stale ids are refused.
#include <sys/socket.h>
#include <unistd.h>

#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

/// A connected nonblocking AF_UNIX stream pair, closed on destruction.
struct socket_pair {
    int ours = -1;
    int theirs = -1;
    socket_pair() {
        int fds[2] = {-1, -1};
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        ours = fds[0];
        theirs = fds[1];
    }
    socket_pair(const socket_pair&) = delete;
    socket_pair& operator=(const socket_pair&) = delete;
    ~socket_pair() {
        close_theirs();
        if (ours >= 0) ::close(ours);
    }
    void close_theirs() {
        if (theirs >= 0) ::close(theirs);
        theirs = -1;
    }
    void send(const std::string& s) const {
        ASSERT_EQ(::write(theirs, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    /// Reads what is queued on our end (up to 4 KiB).
    std::string drain() const {
        char buf[4096];
        const auto n = ::read(ours, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
};

/// Runs `turns` loop turns of at most 5 ms each.
void turns(reactor& r, int n) {
    for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(r.run_once(std::chrono::milliseconds(5)).has_value());
    }
}

using FdWatchTest = ReactorTest;

TEST_P(FdWatchTest, ReportsReadableAgainWhileTheDataStaysUnread) {
    socket_pair p;
    int calls = 0;
    auto id = r_->watch_fd(p.ours, fd_interest::read, [&](fd_interest ready) {
        EXPECT_EQ(ready, fd_interest::read);
        ++calls;
    });
    ASSERT_TRUE(id.has_value()) << id.error().message();
    turns(*r_, 3);
    EXPECT_EQ(calls, 0) << "nothing to read yet";
    p.send("hello");
    ASSERT_TRUE(spin(*r_, [&] { return calls >= 1; }));
    ASSERT_TRUE(spin(*r_, [&] { return calls >= 3; })) << "level-triggered: reported again";
    EXPECT_EQ(p.drain(), "hello");
    turns(*r_, 3);  // a report already queued may still arrive
    const int after_read = calls;
    turns(*r_, 5);
    EXPECT_EQ(calls, after_read) << "no report once drained";
    r_->unwatch_fd(*id);
}

TEST_P(FdWatchTest, AddingWriteToAReadWatchReportsWritable) {
    socket_pair p;
    fd_interest seen = fd_interest::none;
    auto id = r_->watch_fd(p.ours, fd_interest::read,
                           [&](fd_interest ready) { seen = seen | ready; });
    ASSERT_TRUE(id.has_value());
    turns(*r_, 3);  // the read poll is in flight now
    EXPECT_EQ(seen, fd_interest::none);
    ASSERT_TRUE(r_->set_interest(*id, fd_interest::read_write).has_value());
    ASSERT_TRUE(spin(*r_, [&] { return has(seen, fd_interest::write); }));
    EXPECT_FALSE(has(seen, fd_interest::read));
    r_->unwatch_fd(*id);
}

TEST_P(FdWatchTest, InterestNoneSilencesAWatchUntilItIsAskedAgain) {
    socket_pair p;
    int calls = 0;
    auto id = r_->watch_fd(p.ours, fd_interest::write, [&](fd_interest) { ++calls; });
    ASSERT_TRUE(id.has_value());
    ASSERT_TRUE(spin(*r_, [&] { return calls >= 1; }));
    ASSERT_TRUE(r_->set_interest(*id, fd_interest::none).has_value());
    turns(*r_, 2);
    const int paused_at = calls;
    turns(*r_, 5);
    EXPECT_EQ(calls, paused_at);
    ASSERT_TRUE(r_->set_interest(*id, fd_interest::write).has_value());
    ASSERT_TRUE(spin(*r_, [&] { return calls > paused_at; }));
    r_->unwatch_fd(*id);
}

TEST_P(FdWatchTest, AHangUpReportsReadyForTheInterest) {
    socket_pair p;
    fd_interest seen = fd_interest::none;
    auto id = r_->watch_fd(p.ours, fd_interest::read, [&](fd_interest ready) { seen = ready; });
    ASSERT_TRUE(id.has_value());
    p.close_theirs();
    ASSERT_TRUE(spin(*r_, [&] { return seen != fd_interest::none; }));
    EXPECT_EQ(seen, fd_interest::read) << "reported within the interest only";
    EXPECT_EQ(p.drain(), "") << "the caller's own read sees the end";
    r_->unwatch_fd(*id);
}

TEST_P(FdWatchTest, UnwatchInsideTheCallbackStopsItAndTheFdCanBeClosed) {
    socket_pair p;
    int calls = 0;
    watch_id id{};
    auto made = r_->watch_fd(p.ours, fd_interest::read_write, [&](fd_interest) {
        ++calls;
        r_->unwatch_fd(id);
        ::close(p.ours);  // the owner closes right after unwatching
        p.ours = -1;
    });
    ASSERT_TRUE(made.has_value());
    id = *made;
    ASSERT_TRUE(spin(*r_, [&] { return calls >= 1; }));
    turns(*r_, 5);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(r_->set_interest(id, fd_interest::read).has_value()) << "a stale id is refused";
    // The slot is reused by a new watch, which works and is not confused with the old one.
    socket_pair q;
    int q_calls = 0;
    auto again = r_->watch_fd(q.ours, fd_interest::read, [&](fd_interest) { ++q_calls; });
    ASSERT_TRUE(again.has_value());
    EXPECT_NE(again->get(), id.get());
    q.send("x");
    ASSERT_TRUE(spin(*r_, [&] { return q_calls >= 1; }));
    EXPECT_EQ(calls, 1);
    r_->unwatch_fd(*again);
}

TEST_P(FdWatchTest, ManyWatchesReportOnlyTheReadyDescriptor) {
    std::vector<std::unique_ptr<socket_pair>> pairs;
    std::vector<int> calls(16, 0);
    std::vector<watch_id> ids;
    for (int i = 0; i < 16; ++i) {
        pairs.push_back(std::make_unique<socket_pair>());
        auto id = r_->watch_fd(pairs.back()->ours, fd_interest::read,
                               [&calls, i](fd_interest) { ++calls[static_cast<std::size_t>(i)]; });
        ASSERT_TRUE(id.has_value());
        ids.push_back(*id);
    }
    pairs[7]->send("seven");
    ASSERT_TRUE(spin(*r_, [&] { return calls[7] >= 1; }));
    for (int i = 0; i < 16; ++i) {
        if (i != 7) {
            EXPECT_EQ(calls[static_cast<std::size_t>(i)], 0) << i;
        }
    }
    for (const auto id : ids) r_->unwatch_fd(id);
    turns(*r_, 3);  // io_uring: the removals complete before the fds close
}

TEST_P(FdWatchTest, RefusesANegativeDescriptor) {
    EXPECT_FALSE(r_->watch_fd(-1, fd_interest::read, [](fd_interest) {}).has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, FdWatchTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

}  // namespace
}  // namespace minibit::io::testing
