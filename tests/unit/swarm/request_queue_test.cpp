// request_queue: our requests (outstanding, released, late arrivals, rejects, timeouts), the
// pipeline target, and the peer's requests (queue bound, choked flood, cancel, choke).
#include "minibit/swarm/request_queue.hpp"

#include <gtest/gtest.h>

namespace minibit::swarm {
namespace {

using namespace std::chrono_literals;
using clock = request_queue::clock;

wire::block_ref blk(std::uint32_t piece, std::uint32_t block) {
    return {piece_index{piece}, block * block_size_bytes, block_size_bytes};
}

const clock::time_point t0{};

TEST(RequestQueue, AnsweredRequestsLeaveTheQueueAndOthersAreUnsolicited) {
    request_queue q;
    q.sent(blk(0, 0), t0);
    q.sent(blk(0, 1), t0);
    EXPECT_EQ(q.outstanding(), 2U);
    EXPECT_TRUE(q.take_arrival(blk(0, 1), t0));
    EXPECT_FALSE(q.take_arrival(blk(0, 1), t0));  // a second copy was not asked for
    EXPECT_FALSE(q.take_arrival(blk(5, 0), t0));
    EXPECT_FALSE(q.take_arrival({piece_index{0}, 0, 100}, t0));  // same start, other length
    EXPECT_EQ(q.outstanding(), 1U);
    q.check_invariants();
}

TEST(RequestQueue, AReleasedRequestIsStillWelcomeOnceWhenItArrivesLate) {
    request_queue q;
    q.sent(blk(1, 0), t0);
    q.release(blk(1, 0));
    EXPECT_EQ(q.outstanding(), 0U);
    EXPECT_TRUE(q.take_arrival(blk(1, 0), t0));
    EXPECT_FALSE(q.take_arrival(blk(1, 0), t0));
    q.check_invariants();
}

TEST(RequestQueue, ReleasedRequestsAreRememberedUpToTheirBound) {
    request_queue q;
    const std::uint32_t n = request_queue::max_released + 10;
    for (std::uint32_t i = 0; i < n; ++i) {
        q.sent(blk(i, 0), t0);
    }
    EXPECT_EQ(q.release_all().size(), n);
    q.check_invariants();
    EXPECT_FALSE(q.take_arrival(blk(0, 0), t0));  // the oldest were forgotten
    EXPECT_TRUE(q.take_arrival(blk(n - 1, 0), t0));
}

TEST(RequestQueue, ARejectFreesAnOutstandingRequestOnly) {
    request_queue q;
    q.sent(blk(2, 0), t0);
    EXPECT_TRUE(q.take_rejected(blk(2, 0)));
    EXPECT_FALSE(q.take_rejected(blk(2, 0)));
    EXPECT_FALSE(q.take_arrival(blk(2, 0), t0));  // rejected twice: no longer expected at all
    EXPECT_FALSE(q.take_rejected(blk(3, 0)));
}

TEST(RequestQueue, ReleaseAllHandsBackEveryRequestOldestFirst) {
    request_queue q;
    q.sent(blk(0, 0), t0);
    q.sent(blk(4, 1), t0 + 1s);
    q.sent(blk(2, 0), t0 + 2s);
    EXPECT_EQ(q.release_all(), (std::vector<wire::block_ref>{blk(0, 0), blk(4, 1), blk(2, 0)}));
    EXPECT_EQ(q.outstanding(), 0U);
    EXPECT_TRUE(q.release_all().empty());
}

TEST(RequestQueue, IsOverdueOnceTheOldestRequestWaitedTheTimeout) {
    request_queue q;
    EXPECT_FALSE(q.overdue(t0 + 1h, 20s));
    q.sent(blk(0, 0), t0);
    q.sent(blk(0, 1), t0 + 10s);
    EXPECT_FALSE(q.overdue(t0 + 19s, 20s));
    EXPECT_TRUE(q.overdue(t0 + 20s, 20s));
    q.check_invariants();
}

// Issue 15: on a saturated machine a peer's queue of our requests drains slower than the
// timeout while its blocks keep coming; the timeout counts from its last block.
TEST(RequestQueue, APeerThatKeepsDeliveringIsNotOverdueHoweverOldItsQueue) {
    request_queue q;
    for (std::uint32_t i = 0; i < 4; ++i) {
        q.sent(blk(0, i), t0);
    }
    ASSERT_TRUE(q.take_arrival(blk(0, 0), t0 + 1500ms));
    ASSERT_TRUE(q.take_arrival(blk(0, 1), t0 + 3s));
    // Blocks 2 and 3 waited 4.9 s, but a block came 1.9 s ago: not overdue at 2 s.
    EXPECT_FALSE(q.overdue(t0 + 4900ms, 2s));
    // A late block (released before) counts too: the peer is serving.
    q.release(blk(0, 2));
    ASSERT_TRUE(q.take_arrival(blk(0, 2), t0 + 4500ms));
    EXPECT_FALSE(q.overdue(t0 + 6400ms, 2s));
    // Silent for the whole timeout since its last block: overdue.
    EXPECT_TRUE(q.overdue(t0 + 6500ms, 2s));
    q.check_invariants();
}

TEST(RequestQueue, TheTimeoutCountsFromTheOldestRequestWhenItIsLaterThanTheLastBlock) {
    request_queue q;
    q.sent(blk(0, 0), t0);
    ASSERT_TRUE(q.take_arrival(blk(0, 0), t0 + 1s));
    q.sent(blk(0, 1), t0 + 10s);  // the pipeline was empty meanwhile
    EXPECT_FALSE(q.overdue(t0 + 11s, 2s));
    EXPECT_TRUE(q.overdue(t0 + 12s, 2s));
}

TEST(RequestQueue, OnlyRequestsOlderThanTheAgeExpireWhenThePeerSkippedThem) {
    request_queue q;
    q.sent(blk(0, 0), t0);
    q.sent(blk(0, 1), t0 + 1s);
    q.sent(blk(0, 2), t0 + 5s);
    EXPECT_TRUE(q.expire_older(t0 + 7s, 8s, 4s).empty());
    EXPECT_EQ(q.expire_older(t0 + 9s, 8s, 4s),
              (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1)}));
    EXPECT_EQ(q.outstanding(), 1U);
    EXPECT_EQ(q.avoided(t0 + 10s), (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1)}));
    EXPECT_TRUE(q.take_arrival(blk(0, 1), t0 + 10s));  // released: still welcome
    q.check_invariants();
}

TEST(RequestQueue, TargetStartsAtTheInitialSizeTrickesWhenSnubbedAndRespectsReqq) {
    request_queue q;
    const torrent_options o;
    EXPECT_EQ(q.target(0.0, false, o), o.initial_requests);
    // 1 MiB/s for half a second of blocks: 32 requests.
    EXPECT_EQ(q.target(1024.0 * 1024.0, true, o), 32U);
    q.set_snubbed(true);
    EXPECT_EQ(q.target(1024.0 * 1024.0, true, o), 2U);
    q.set_snubbed(false);
    q.set_peer_reqq(10);
    EXPECT_EQ(q.target(1024.0 * 1024.0, true, o), 10U);
}

TEST(RequestQueue, ThePeersRequestsAreServedInOrderAndBounded) {
    request_queue q;
    EXPECT_TRUE(q.queue_incoming(blk(0, 0), 2));
    EXPECT_TRUE(q.queue_incoming(blk(0, 1), 2));
    EXPECT_FALSE(q.queue_incoming(blk(1, 0), 2));  // a flood
    EXPECT_EQ(q.next_incoming(), blk(0, 0));
    EXPECT_EQ(q.next_incoming(), blk(0, 1));
    EXPECT_EQ(q.next_incoming(), std::nullopt);
    EXPECT_TRUE(q.incoming_empty());
}

TEST(RequestQueue, ACancelRemovesAQueuedRequestOnce) {
    request_queue q;
    ASSERT_TRUE(q.queue_incoming(blk(0, 0), 10));
    ASSERT_TRUE(q.queue_incoming(blk(0, 1), 10));
    EXPECT_TRUE(q.cancel_incoming(blk(0, 0)));
    EXPECT_FALSE(q.cancel_incoming(blk(0, 0)));
    EXPECT_EQ(q.next_incoming(), blk(0, 1));
}

TEST(RequestQueue, ServingWhileThePeerKeepsAskingKeepsOrderAndTheBound) {
    request_queue q;
    std::uint32_t asked = 0;
    std::uint32_t served = 0;
    for (int round = 0; round < 100; ++round) {
        // Three in, two out: the queue grows by one a round until the bound stops it.
        for (int i = 0; i < 3; ++i) {
            if (q.queue_incoming(blk(asked / 16, asked % 16), 40)) ++asked;
        }
        for (int i = 0; i < 2; ++i) {
            ASSERT_EQ(q.next_incoming(), blk(served / 16, served % 16));
            ++served;
        }
    }
    EXPECT_EQ(asked - served, 38U);  // 40 after the asks, two served
    EXPECT_TRUE(q.cancel_incoming(blk(served / 16, served % 16)));
    EXPECT_FALSE(q.cancel_incoming(blk(0, 0)));  // served long ago
    const auto rest = q.take_incoming();
    ASSERT_EQ(rest.size(), 37U);
    EXPECT_EQ(rest.front(), blk((served + 1) / 16, (served + 1) % 16));
    EXPECT_TRUE(q.incoming_empty());
    EXPECT_EQ(q.next_incoming(), std::nullopt);
}

TEST(RequestQueue, ChokingTakesEveryQueuedRequest) {
    request_queue q;
    ASSERT_TRUE(q.queue_incoming(blk(3, 0), 10));
    ASSERT_TRUE(q.queue_incoming(blk(3, 1), 10));
    const auto taken = q.take_incoming();
    EXPECT_EQ(std::vector<wire::block_ref>(taken.begin(), taken.end()),
              (std::vector<wire::block_ref>{blk(3, 0), blk(3, 1)}));
    EXPECT_TRUE(q.incoming_empty());
}

TEST(RequestQueue, RequestsWhileChokedAreAFloodPastTheLimitUntilTheNextUnchoke) {
    request_queue q;
    EXPECT_TRUE(q.count_choked_request(2));
    EXPECT_TRUE(q.count_choked_request(2));
    EXPECT_FALSE(q.count_choked_request(2));
    q.unchoked();
    EXPECT_TRUE(q.count_choked_request(2));
}

TEST(RequestQueue, MeasuresBlockRoundTripsOfAnsweredRequestsOnly) {
    request_queue q;
    const torrent_options o;
    EXPECT_FALSE(q.round_trips().known());
    EXPECT_EQ(q.timeout(o), initial_request_timeout);
    q.sent(blk(0, 0), t0);
    q.sent(blk(0, 1), t0);
    q.release(blk(0, 1));
    EXPECT_TRUE(q.take_arrival(blk(0, 1), t0 + 30s));  // released: welcome, but not timed
    EXPECT_FALSE(q.round_trips().known());
    EXPECT_TRUE(q.take_arrival(blk(0, 0), t0 + 3s));
    EXPECT_EQ(q.round_trips().smoothed(), std::chrono::microseconds{3'000'000});
    // 3 s block round trips: the timeout adapts to max(2 x 3, 3 + 4 x 1.5) s + one tick.
    EXPECT_EQ(q.timeout(o), std::chrono::milliseconds{9'500});
}

TEST(RequestQueue, ExpiredRequestsAreAvoidedUntilTheirCoolOffEnds) {
    request_queue q;
    q.sent(blk(0, 0), t0);
    q.sent(blk(0, 1), t0 + 1s);
    EXPECT_TRUE(q.avoided(t0).empty());
    EXPECT_EQ(q.expire(t0 + 3s, 4s), (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1)}));
    EXPECT_EQ(q.outstanding(), 0U);
    EXPECT_TRUE(q.take_arrival(blk(0, 1), t0 + 4s));  // late, still welcome
    EXPECT_EQ(q.avoided(t0 + 6s), (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1)}));
    q.sent(blk(1, 0), t0 + 5s);
    EXPECT_EQ(q.expire(t0 + 6s, 4s), (std::vector<wire::block_ref>{blk(1, 0)}));
    EXPECT_EQ(q.avoided(t0 + 6500ms),
              (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1), blk(1, 0)}));
    EXPECT_EQ(q.avoided(t0 + 7s), (std::vector<wire::block_ref>{blk(1, 0)}));
    EXPECT_TRUE(q.avoided(t0 + 10s).empty());
    q.check_invariants();
}

TEST(RequestQueue, AvoidedBlocksAreBounded) {
    request_queue q;
    const std::uint32_t n = request_queue::max_avoided + 10;
    for (std::uint32_t i = 0; i < n; ++i) {
        q.sent(blk(i, 0), t0);
    }
    EXPECT_EQ(q.expire(t0 + 10s, 10s).size(), n);
    const auto avoided = q.avoided(t0 + 11s);
    ASSERT_EQ(avoided.size(), request_queue::max_avoided);
    EXPECT_EQ(avoided.front(), blk(10, 0));  // the oldest went first
    q.check_invariants();
}

TEST(RequestQueue, TheTargetCoversFourOfThePeersShortestBlockRoundTripsWhenLongerThanHalfASecond) {
    request_queue q;
    const torrent_options o;
    const double rate = 1024.0 * 1024.0;
    q.sent(blk(0, 0), t0);
    ASSERT_TRUE(q.take_arrival(blk(0, 0), t0 + 100ms));
    EXPECT_EQ(q.target(rate, true, o), 32U);  // 4 x 0.1 s < 0.5 s: half a second of blocks
    q.sent(blk(0, 1), t0);
    ASSERT_TRUE(q.take_arrival(blk(0, 1), t0 + 300ms));
    EXPECT_EQ(q.target(rate, true, o), 32U);  // the smallest round trip counts: still 0.1 s
    request_queue far;
    far.sent(blk(0, 0), t0);
    ASSERT_TRUE(far.take_arrival(blk(0, 0), t0 + 250ms));
    EXPECT_EQ(far.target(rate, true, o), 64U);  // 4 x 0.25 s = 1 s of blocks
}

}  // namespace
}  // namespace minibit::swarm
