// io::scope on both back ends: timers and posts that outlive their owner are cancelled or
// dropped (also a post from another thread racing the owner's death), connects finishing after
// the owner died close their connection, guarded callbacks go quiet.
#include <atomic>
#include <optional>
#include <thread>

#include "minibit/io/scope.hpp"
#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

using ScopeTest = ReactorTest;
using namespace std::chrono_literals;

TEST_P(ScopeTest, TimerArmedThroughALiveScopeFiresAndCancelWorks) {
    scope s(*r_);
    int fired = 0;
    bool cancelled_fired = false;
    s.add_timer(5ms, [&] { ++fired; });
    const timer_id dropped = s.add_timer(5ms, [&] { cancelled_fired = true; });
    EXPECT_TRUE(s.cancel_timer(dropped));
    EXPECT_FALSE(s.cancel_timer(dropped));
    ASSERT_TRUE(spin(*r_, [&] { return fired == 1; }));
    bool sentinel = false;
    r_->add_timer(10ms, [&] { sentinel = true; });
    ASSERT_TRUE(spin(*r_, [&] { return sentinel; }));
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(cancelled_fired);
}

TEST_P(ScopeTest, TimerArmedThenOwnerDestroyedNeverFires) {
    bool fired = false;
    {
        scope s(*r_);
        s.add_timer(5ms, [&] { fired = true; });
        s.add_timer(0ms, [&] { fired = true; });
    }
    bool sentinel = false;
    r_->add_timer(30ms, [&] { sentinel = true; });
    ASSERT_TRUE(spin(*r_, [&] { return sentinel; }));
    EXPECT_FALSE(fired);
}

TEST_P(ScopeTest, TaskPostedThenOwnerDestroyedIsDropped) {
    bool ran = false;
    {
        scope s(*r_);
        s.post([&] { ran = true; });
    }
    bool sentinel = false;
    r_->post([&] { sentinel = true; });
    ASSERT_TRUE(spin(*r_, [&] { return sentinel; }));
    EXPECT_FALSE(ran);
}

TEST_P(ScopeTest, PostFromAnotherThreadRunsOnTheLoopWhileTheOwnerLives) {
    scope s(*r_);
    std::atomic<bool> ran_elsewhere{false};
    bool ran = false;
    const auto loop_thread = std::this_thread::get_id();
    std::thread worker([h = s.share(), &ran, &ran_elsewhere, loop_thread] {
        h.post([&ran, &ran_elsewhere, loop_thread] {
            ran = true;
            ran_elsewhere = std::this_thread::get_id() != loop_thread;
        });
    });
    worker.join();
    ASSERT_TRUE(spin(*r_, [&] { return ran; }));
    EXPECT_FALSE(ran_elsewhere.load());
}

TEST_P(ScopeTest, PostFromAnotherThreadAfterTheOwnerDiedIsDropped) {
    std::optional<scope> s(std::in_place, *r_);
    const scope::handle h = s->share();
    s.reset();
    bool ran = false;
    std::thread worker([h, &ran] { h.post([&ran] { ran = true; }); });
    worker.join();
    bool sentinel = false;
    r_->post([&] { sentinel = true; });
    ASSERT_TRUE(spin(*r_, [&] { return sentinel; }));
    EXPECT_FALSE(ran);
}

TEST_P(ScopeTest, PostsRacingTheOwnersDeathNeverRunAfterIt) {
    // A worker keeps posting while the loop runs and the owner dies midway (the hashing path:
    // a piece verdict arriving while its torrent is destroyed). Tasks run on the loop thread,
    // so `dead` needs no atomic; none may see it set.
    std::optional<scope> s(std::in_place, *r_);
    std::atomic<bool> stop{false};
    std::atomic<int> posted{0};
    int ran = 0;
    int ran_after_death = 0;
    bool dead = false;
    std::thread worker([h = s->share(), &stop, &posted, &ran, &ran_after_death, &dead] {
        for (int i = 0; i < 100000 && !stop.load(); ++i) {
            h.post([&ran, &ran_after_death, &dead] {
                ++ran;
                ran_after_death += dead ? 1 : 0;
            });
            ++posted;
        }
    });
    ASSERT_TRUE(spin(*r_, [&] { return ran >= 100 || posted.load() >= 100000; }));
    dead = true;
    s.reset();
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(r_->run_once(1ms).has_value());
    }
    stop = true;
    worker.join();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(r_->run_once(1ms).has_value());
    }
    EXPECT_GT(ran, 0);
    EXPECT_EQ(ran_after_death, 0);
}

TEST_P(ScopeTest, ConnectFinishingAfterTheOwnerDiedClosesTheConnection) {
    bool accepted_closed = false;
    bool accepted = false;
    const address where = listen_loopback([&](connection c, const address&) {
        accepted = true;
        ASSERT_TRUE(
            r_->start(c.id(), {[](std::span<const std::byte>) {},
                               [&](const std::optional<error>&) { accepted_closed = true; }})
                .has_value());
    });
    bool outcome_seen = false;
    {
        scope s(*r_);
        s.connect(where, [&](result<connection>) { outcome_seen = true; });
    }
    ASSERT_TRUE(spin(*r_, [&] { return accepted && accepted_closed; }));
    EXPECT_FALSE(outcome_seen);
}

TEST_P(ScopeTest, GuardedCallbackDoesNothingOnceTheOwnerDied) {
    int calls = 0;
    std::function<void(int)> cb;
    {
        scope s(*r_);
        cb = s.guard([&calls](int n) { calls += n; });
        cb(2);
    }
    cb(5);
    EXPECT_EQ(calls, 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScopeTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

}  // namespace
}  // namespace minibit::io::testing
