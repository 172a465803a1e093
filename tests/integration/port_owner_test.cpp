// io::check_sole_owner and io::pick_free_port against real sockets: this process's own
// SO_REUSEPORT group, and sockets held by a forked child process (another owner), for TCP
// listeners and UDP sockets, exact and wildcard addresses, on 127.0.0.0/8 only.
#include "minibit/io/port_owner.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace minibit::io {
namespace {

/// A socket bound (and for TCP listening) with SO_REUSEPORT; -1 on failure.
int bound_socket(const address& a, transport t) {
    const int fd = ::socket(a.family(),
                            (t == transport::tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, a.data(), a.size()) != 0 || (t == transport::tcp && ::listen(fd, 8) != 0)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// A child process holding a SO_REUSEPORT socket on `a` until destroyed.
class other_owner {
public:
    other_owner(const address& a, transport t) {
        int ready[2];
        if (::pipe(ready) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            const int fd = bound_socket(a, t);
            const char ok = fd >= 0 ? '1' : '0';
            (void)::write(ready[1], &ok, 1);
            ::pause();  // until the parent kills it
            ::_exit(0);
        }
        char ok = '0';
        (void)::read(ready[0], &ok, 1);
        bound_ = ok == '1';
        ::close(ready[0]);
        ::close(ready[1]);
    }
    ~other_owner() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    other_owner(const other_owner&) = delete;
    other_owner& operator=(const other_owner&) = delete;
    [[nodiscard]] bool bound() const { return bound_; }

private:
    pid_t pid_ = -1;
    bool bound_ = false;
};

address at(const char* ip, std::uint16_t port) {
    return *address::parse(std::string(ip) + ":" + std::to_string(port));
}

class PortOwner : public ::testing::TestWithParam<transport> {};

TEST_P(PortOwner, PicksAPortNobodyHoldsAndOurOwnGroupMayShareIt) {
    const auto picked = pick_free_port(at("127.0.0.1", 0), GetParam());
    ASSERT_TRUE(picked) << picked.error().message();
    ASSERT_NE(picked->port(), 0);
    EXPECT_TRUE(check_sole_owner(*picked, GetParam()));
    const int a = bound_socket(*picked, GetParam());
    const int b = bound_socket(*picked, GetParam());
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    EXPECT_TRUE(check_sole_owner(*picked, GetParam())) << "two sockets, both ours";
    ::close(a);
    ::close(b);
    const auto fixed = at("127.0.0.1", 4242);
    EXPECT_EQ(pick_free_port(fixed, GetParam()).value(), fixed) << "a given port is kept";
}

TEST_P(PortOwner, RefusesAPortAnotherProcessHolds) {
    const auto addr = *pick_free_port(at("127.0.0.1", 0), GetParam());
    {
        const other_owner other(addr, GetParam());
        ASSERT_TRUE(other.bound());
        const auto r = check_sole_owner(addr, GetParam());
        ASSERT_FALSE(r);
        EXPECT_TRUE(is(r.error(), io_errc::address_in_use));
        EXPECT_NE(
            r.error().reason.find("address " + addr.to_string() + " is in use by another process"),
            std::string::npos)
            << r.error().reason;
        // Joining with SO_REUSEPORT still works at the kernel level: only the check stops it.
        const int mine = bound_socket(addr, GetParam());
        EXPECT_GE(mine, 0);
        EXPECT_FALSE(check_sole_owner(addr, GetParam()));
        if (mine >= 0) ::close(mine);
    }
    EXPECT_TRUE(check_sole_owner(addr, GetParam())) << "free again once the other process ended";
}

TEST_P(PortOwner, AWildcardOverlapsEverySpecificAddressButDistinctAddressesDoNot) {
    const auto port = pick_free_port(at("127.0.0.1", 0), GetParam())->port();
    {
        const other_owner any(at("0.0.0.0", port), GetParam());
        ASSERT_TRUE(any.bound());
        EXPECT_FALSE(check_sole_owner(at("127.0.0.1", port), GetParam()));
        EXPECT_FALSE(check_sole_owner(at("127.0.0.9", port), GetParam()));
    }
    {
        const other_owner one(at("127.0.0.2", port), GetParam());
        ASSERT_TRUE(one.bound());
        EXPECT_FALSE(check_sole_owner(at("0.0.0.0", port), GetParam()));
        EXPECT_FALSE(check_sole_owner(at("127.0.0.2", port), GetParam()));
        EXPECT_TRUE(check_sole_owner(at("127.0.0.3", port), GetParam()));
    }
}

INSTANTIATE_TEST_SUITE_P(Transports, PortOwner, ::testing::Values(transport::tcp, transport::udp),
                         [](const auto& i) { return i.param == transport::tcp ? "Tcp" : "Udp"; });

}  // namespace
}  // namespace minibit::io
