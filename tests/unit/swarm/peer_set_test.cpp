// peer_set: reconnect pacing and the connection cap for outgoing connects, slots and their
// records (kept after the connection goes), finding and removing connections.
#include "minibit/swarm/peer_set.hpp"

#include "minibit/swarm/peer_policy.hpp"

#include "test_peer_host.hpp"

namespace minibit::swarm::testing {
namespace {

using namespace std::chrono_literals;
using clock = peer_set::clock;

const clock::time_point t0{};
const peer_set::connect_limits fifty{.all = 50, .dialled = 50};

io::address addr(std::uint16_t port) {
    return io::address::loopback_v4(port);
}

class PeerSet : public ::testing::Test {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::off);
        auto r = io::make_reactor(io::backend_kind::epoll, {});
        ASSERT_TRUE(r);
        reactor_ = std::move(*r);
        host_ = std::make_unique<test_host>(*reactor_, false);
    }
    /// A connection (never started) at a fresh slot of `set` for `a`.
    std::shared_ptr<peer_connection> connection(peer_set& set, const io::address& a,
                                                peer_direction dir = peer_direction::incoming) {
        const peer_slot slot = set.open_slot(a);
        return std::make_shared<peer_connection>(*host_, host_->context(), io::connection{}, a,
                                                 slot, dir);
    }

    std::unique_ptr<io::reactor> reactor_;
    std::unique_ptr<test_host> host_;
};

TEST_F(PeerSet, AnAddressIsDialledOnceAtATimeAndNotAgainWithinTheInterval) {
    peer_set set;
    EXPECT_TRUE(set.begin_connect(addr(1), t0, 5s, fifty));
    EXPECT_FALSE(set.begin_connect(addr(1), t0 + 10s, 5s, fifty));  // still in flight
    set.end_connect(addr(1));
    EXPECT_FALSE(set.begin_connect(addr(1), t0 + 4s, 5s, fifty));
    EXPECT_TRUE(set.begin_connect(addr(1), t0 + 5s, 5s, fifty));
    EXPECT_EQ(set.connecting(), 1U);
    set.check_invariants();
}

TEST_F(PeerSet, ConnectsAndConnectionsTogetherStayUnderTheCap) {
    peer_set set;
    set.insert(connection(set, addr(10)));
    EXPECT_TRUE(set.begin_connect(addr(1), t0, 5s, {.all = 3, .dialled = 3}));
    EXPECT_TRUE(set.begin_connect(addr(2), t0, 5s, {.all = 3, .dialled = 3}));
    EXPECT_FALSE(set.begin_connect(addr(3), t0, 5s, {.all = 3, .dialled = 3}));
    set.check_invariants();
}

TEST_F(PeerSet, DialsStopAtTheirOwnCapWhileIncomingConnectionsStillFit) {
    peer_set set;
    set.insert(connection(set, addr(10), peer_direction::outgoing));
    set.insert(connection(set, addr(11)));
    set.insert(connection(set, addr(12)));
    const peer_set::connect_limits limits{.all = 10, .dialled = dial_limit(5)};  // 3 dials
    EXPECT_TRUE(set.begin_connect(addr(1), t0, 5s, limits));
    EXPECT_TRUE(set.begin_connect(addr(2), t0, 5s, limits));
    EXPECT_FALSE(set.begin_connect(addr(3), t0, 5s, limits));  // 1 open + 2 in flight
    set.end_connect(addr(2));                                  // refused: its place is free again
    EXPECT_TRUE(set.begin_connect(addr(3), t0, 5s, limits));
    EXPECT_EQ(dial_limit(50), 25U);
    EXPECT_EQ(dial_limit(1), 1U);
    set.check_invariants();
}

TEST_F(PeerSet, AnAddressAlreadyConnectedIsNotDialled) {
    peer_set set;
    set.insert(connection(set, addr(10)));
    EXPECT_FALSE(set.begin_connect(addr(10), t0, 5s, fifty));
    EXPECT_TRUE(set.begin_connect(addr(11), t0, 5s, fifty));
}

TEST_F(PeerSet, SlotsAreNeverReusedAndTheirRecordsOutliveTheConnection) {
    peer_set set;
    auto a = connection(set, addr(1));
    auto b = connection(set, addr(2));
    EXPECT_NE(a->slot(), b->slot());
    set.insert(a);
    set.insert(b);
    set.record(a->slot()).id = wire::peer_id{};
    EXPECT_EQ(set.size(), 2U);
    EXPECT_EQ(set.find(a->slot()), a.get());
    EXPECT_EQ(set.erase(a->slot()), a);
    EXPECT_EQ(set.erase(a->slot()), nullptr);
    EXPECT_EQ(set.find(a->slot()), nullptr);
    EXPECT_EQ(set.record(a->slot()).addr, addr(1));
    EXPECT_TRUE(set.record(a->slot()).id.has_value());
    auto c = connection(set, addr(1));
    EXPECT_GT(c->slot(), b->slot());
    set.check_invariants();
}

TEST_F(PeerSet, ASnapshotHoldsTheConnectionsInSlotOrder) {
    peer_set set;
    auto a = connection(set, addr(1));
    auto b = connection(set, addr(2));
    set.insert(b);
    set.insert(a);
    const auto all = set.snapshot();
    ASSERT_EQ(all.size(), 2U);
    EXPECT_EQ(all[0], a);
    EXPECT_EQ(all[1], b);
    EXPECT_EQ(set.live().size(), 2U);
}

TEST_F(PeerSet, RemembersAddressesThatShowedASeedUntilOneShowsItIsNot) {
    peer_set set;
    EXPECT_FALSE(set.known_seed(addr(1)));
    set.note_seed(addr(1), true);
    set.note_seed(addr(2), false);
    EXPECT_TRUE(set.known_seed(addr(1)));
    EXPECT_FALSE(set.known_seed(addr(2)));
    set.note_seed(addr(1), false);  // it lost pieces, or another peer took the address
    EXPECT_FALSE(set.known_seed(addr(1)));
}

}  // namespace
}  // namespace minibit::swarm::testing
