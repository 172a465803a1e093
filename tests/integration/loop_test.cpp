// Loop services on both back ends: timers, post() from another thread, UDP echo, SO_REUSEPORT
// listeners on two reactors, the runner; plus the address and back-end name parsers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "minibit/io/runner.hpp"
#include "reactor_fixture.hpp"

namespace minibit::io::testing {
namespace {

using LoopTest = ReactorTest;
using namespace std::chrono_literals;

TEST_P(LoopTest, TimersFireInDeadlineOrderAndCancelWorks) {
    std::vector<std::string> fired;
    const auto armed = r_->now();
    r_->add_timer(30ms, [&] { fired.push_back("30"); });
    r_->add_timer(10ms, [&] { fired.push_back("10a"); });
    const timer_id dropped = r_->add_timer(20ms, [&] { fired.push_back("20-cancelled"); });
    r_->add_timer(20ms, [&] { fired.push_back("20"); });
    r_->add_timer(10ms, [&] { fired.push_back("10b"); });
    EXPECT_TRUE(r_->cancel_timer(dropped));
    EXPECT_FALSE(r_->cancel_timer(dropped));
    ASSERT_TRUE(spin(*r_, [&] { return fired.size() == 4; }));
    EXPECT_EQ(fired, (std::vector<std::string>{"10a", "10b", "20", "30"}));
    // None fired early: the loop's clock had passed the last deadline when it ran.
    EXPECT_GE(r_->now() - armed, 30ms);
}

TEST_P(LoopTest, PostFromAnotherThreadRunsEveryTaskOnTheLoopThread) {
    constexpr int tasks = 1000;
    int ran = 0;
    int on_other_thread = 0;
    const auto loop_thread = std::this_thread::get_id();
    std::thread poster([&] {
        for (int i = 0; i < tasks; ++i) {
            r_->post([&] {
                ++ran;
                on_other_thread += std::this_thread::get_id() == loop_thread ? 0 : 1;
            });
        }
        r_->post([&] { r_->stop(); });
    });
    const auto outcome = r_->run();
    poster.join();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(ran, tasks);
    EXPECT_EQ(on_other_thread, 0);
}

TEST_P(LoopTest, UdpEchoesADatagramBackToItsSender) {
    udp_id server{};
    auto bound = r_->bind_udp(address::loopback_v4(0), reuse_port::no,
                              [&](std::span<const std::byte> d, const address& from) {
                                  ASSERT_TRUE(r_->send_to(server, d, from));
                              });
    ASSERT_TRUE(bound.has_value());
    server = *bound;
    std::string reply;
    address reply_from;
    auto client = r_->bind_udp(address::loopback_v4(0), reuse_port::no,
                               [&](std::span<const std::byte> d, const address& from) {
                                   reply = string_of(d);
                                   reply_from = from;
                               });
    ASSERT_TRUE(client.has_value());
    const auto server_addr = *r_->local_address(server);
    ASSERT_TRUE(r_->send_to(*client, bytes_of("ping 42"), server_addr));
    ASSERT_TRUE(spin(*r_, [&] { return !reply.empty(); }));
    EXPECT_EQ(reply, "ping 42");
    EXPECT_EQ(reply_from, server_addr);
    r_->close_udp(*client);
    r_->close_udp(server);
    EXPECT_TRUE(is(r_->send_to(server, bytes_of("x"), server_addr).error(), io_errc::stale_handle));
}

// A handler reads now() to stamp deadlines (the tracker's request deadline, request timeouts):
// it must be the time its event arrived, not when the loop went to sleep (up to a second before).
TEST_P(LoopTest, NowSeenByAHandlerIsTheTimeItsEventArrived) {
    using steady = std::chrono::steady_clock;
    std::optional<steady::duration> lag;
    auto server = r_->bind_udp(
        address::loopback_v4(0), reuse_port::no,
        [&](std::span<const std::byte>, const address&) { lag = steady::now() - r_->now(); });
    ASSERT_TRUE(server.has_value());
    const auto to = *r_->local_address(*server);
    ASSERT_TRUE(spin(*r_, [] { return true; }));  // start-up work done: the next wait sleeps
    // A plain socket on another thread sends one datagram 400 ms into a wait of up to 3 s.
    std::thread sender([port = to.port()] {
        std::this_thread::sleep_for(400ms);
        const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) return;
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::sendto(fd, "x", 1, 0, reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
        ::close(fd);
    });
    const auto deadline = steady::now() + 5s;
    while (!lag && steady::now() < deadline) {
        ASSERT_TRUE(r_->run_once(3000ms).has_value());
    }
    sender.join();
    ASSERT_TRUE(lag.has_value());
    // Before the fix the lag was the ~400 ms the loop had slept; 200 ms leaves room for a slow turn.
    EXPECT_LT(*lag, 200ms);
    r_->close_udp(*server);
}

TEST_P(LoopTest, ReusePortListenersOnTwoReactorsShareOnePort) {
    auto other = make_reactor(GetParam(), reactor_options{});
    ASSERT_TRUE(other.has_value());
    reactor& r2 = **other;
    int on_first = 0;
    int on_second = 0;
    const listen_options shared{reuse_port::yes, 128};
    auto l1 = r_->listen(address::loopback_v4(0), shared,
                         [&](connection, const address&) { ++on_first; });
    ASSERT_TRUE(l1.has_value());
    const auto where = *r_->local_address(*l1);
    auto l2 = r2.listen(where, shared, [&](connection, const address&) { ++on_second; });
    ASSERT_TRUE(l2.has_value()) << l2.error().message();
    auto refused = r2.listen(where, listen_options{}, [](connection, const address&) {});
    ASSERT_FALSE(refused.has_value());
    EXPECT_TRUE(is(refused.error(), io_errc::address_in_use)) << refused.error().message();
    constexpr int clients = 64;
    int connected = 0;
    for (int i = 0; i < clients; ++i) {
        r_->connect(where, [&](result<connection> c) { connected += c.has_value() ? 1 : 0; });
    }
    ASSERT_TRUE(
        spin2(*r_, r2, [&] { return connected == clients && on_first + on_second == clients; }));
    EXPECT_EQ(on_first + on_second, clients);
}

TEST_P(LoopTest, RunnerStartsOneReactorPerThreadAndStops) {
    runner_options options;
    options.threads = 2;
    options.backend = GetParam();
    std::mutex m;
    std::set<unsigned> inits;
    auto started = runner::start(options, [&](reactor& r, unsigned index) {
        EXPECT_EQ(r.kind(), GetParam());
        std::lock_guard lock(m);
        inits.insert(index);
    });
    ASSERT_TRUE(started.has_value()) << started.error().message();
    auto& group = **started;
    EXPECT_EQ(group.size(), 2U);
    std::promise<void> first;
    std::promise<void> second;
    group.post(0, [&] { first.set_value(); });
    group.post(1, [&] { second.set_value(); });
    EXPECT_EQ(first.get_future().wait_for(10s), std::future_status::ready);
    EXPECT_EQ(second.get_future().wait_for(10s), std::future_status::ready);
    group.stop();
    group.join();
    EXPECT_EQ(inits, (std::set<unsigned>{0, 1}));
}

TEST_P(LoopTest, RunnerInitsInThreadOrderAndFinishesEachThreadOnItself) {
    runner_options options;
    options.threads = 3;
    options.backend = GetParam();
    std::mutex m;
    std::vector<unsigned> init_order;
    std::vector<std::thread::id> init_thread(3);
    std::vector<std::thread::id> finish_thread(3);
    std::vector<bool> finished_with_reactor(3, false);
    auto started = runner::start(
        options,
        [&](reactor&, unsigned index) {
            std::lock_guard lock(m);
            init_order.push_back(index);
            init_thread[index] = std::this_thread::get_id();
        },
        [&](reactor& r, unsigned index) {
            // The reactor still works here: a timer can be armed and cancelled.
            const timer_id t = r.add_timer(1h, [] {});
            std::lock_guard lock(m);
            finished_with_reactor[index] = r.cancel_timer(t);
            finish_thread[index] = std::this_thread::get_id();
        });
    ASSERT_TRUE(started.has_value()) << started.error().message();
    (*started)->stop();
    (*started)->join();
    EXPECT_EQ(init_order, (std::vector<unsigned>{0, 1, 2}));
    EXPECT_EQ(finish_thread, init_thread);
    EXPECT_EQ(finished_with_reactor, (std::vector<bool>{true, true, true}));
}

TEST(Runner, DefaultsToOneReactorPerCpuTheProcessMayUse) {
    // As under taskset or systemd's CPUAffinity=: a thread bound to one CPU starts one reactor,
    // not one per CPU of the machine. (The mask is per thread; this thread's is restored.)
    cpu_set_t all;
    CPU_ZERO(&all);
    ASSERT_EQ(::sched_getaffinity(0, sizeof all, &all), 0);
    EXPECT_EQ(usable_cpus(), static_cast<unsigned>(CPU_COUNT(&all)));
    int first = 0;
    while (!CPU_ISSET(first, &all)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    EXPECT_EQ(usable_cpus(), 1U);
    auto started = runner::start(runner_options{}, [](reactor&, unsigned) {});
    ASSERT_EQ(::sched_setaffinity(0, sizeof all, &all), 0);
    ASSERT_TRUE(started.has_value()) << started.error().message();
    EXPECT_EQ((*started)->size(), 1U);
    (*started)->stop();
    (*started)->join();
}

INSTANTIATE_TEST_SUITE_P(Backends, LoopTest,
                         ::testing::Values(backend_kind::uring, backend_kind::epoll), backend_name);

TEST(Address, ParsesAndPrintsIpv4AndIpv6) {
    auto v4 = address::parse("127.0.0.1:6969");
    ASSERT_TRUE(v4.has_value());
    EXPECT_EQ(v4->to_string(), "127.0.0.1:6969");
    EXPECT_EQ(v4->port(), 6969);
    auto v6 = address::parse("[::1]:51413");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->family(), AF_INET6);
    EXPECT_EQ(v6->to_string(), "[::1]:51413");
}

TEST(Address, RejectsMalformedTextWithAnOffset) {
    const auto no_port = address::parse("127.0.0.1");
    ASSERT_FALSE(no_port.has_value());
    EXPECT_TRUE(is(no_port.error(), io_errc::bad_address));
    const auto big_port = address::parse("127.0.0.1:65536");
    ASSERT_FALSE(big_port.has_value());
    EXPECT_EQ(big_port.error().offset, 10U);
    EXPECT_FALSE(address::parse("[::1]6969").has_value());
    EXPECT_FALSE(address::parse("300.1.1.1:80").has_value());
    EXPECT_FALSE(address::parse(std::string(200, '1') + ":80").has_value());
}

TEST(BackendKind, ParsesTheThreeNames) {
    EXPECT_EQ(*parse_backend_kind("auto"), backend_kind::auto_select);
    EXPECT_EQ(*parse_backend_kind("uring"), backend_kind::uring);
    EXPECT_EQ(*parse_backend_kind("epoll"), backend_kind::epoll);
    EXPECT_TRUE(is(parse_backend_kind("kqueue").error(), io_errc::bad_backend));
}

}  // namespace
}  // namespace minibit::io::testing
