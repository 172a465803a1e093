// The requests of one peer connection, both ways: ours to the peer (outstanding, oldest first,
// and the released ones whose block may still arrive late), the peer's to us (queued until
// served), the pipeline size our requests aim at, and the request timeout adapted to the peer's
// block round trips. Plain bookkeeping with the time passed in;
// owned by one connection, one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "minibit/swarm/peer_policy.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// Requests of one connection in both directions.
class request_queue {
public:
    using clock = std::chrono::steady_clock;
    /// Released requests remembered so a late block is still welcome (bounded memory).
    static constexpr std::size_t max_released = 1024;
    /// Timed-out blocks kept from being asked of the same peer again (bounded memory).
    static constexpr std::size_t max_avoided = 256;

    // ---- our requests to the peer
    /// We sent a REQUEST for `block` at `at`.
    void sent(const wire::block_ref& block, clock::time_point at);
    /// Requests sent and not answered, rejected or released.
    [[nodiscard]] std::size_t outstanding() const { return outstanding_.size(); }
    /// A PIECE for `block` arrived at `now`: true when we asked for it (it was outstanding, or
    /// released not long ago; the peer is serving: overdue() counts from here); either way it
    /// is no longer expected. An outstanding one adds its round trip to the estimate (a
    /// released one does not: Karn's rule).
    [[nodiscard]] bool take_arrival(const wire::block_ref& block, clock::time_point now);
    /// The peer rejected `block`: true when it was outstanding (the picker gets it back); it
    /// stays welcome should it come anyway.
    [[nodiscard]] bool take_rejected(const wire::block_ref& block);
    /// We stop waiting for `block` (another peer sent it) but accept it should it come late.
    void release(const wire::block_ref& block);
    /// Releases every outstanding request and returns them, oldest first.
    [[nodiscard]] std::vector<wire::block_ref> release_all();
    /// The peer stalled: releases every outstanding request (as release_all()) and keeps their
    /// blocks from this peer until `now + cooloff` (avoided()).
    [[nodiscard]] std::vector<wire::block_ref> expire(clock::time_point now,
                                                      clock::duration cooloff);
    /// Blocks that timed out with this peer and are not to be asked of it again before their
    /// cool-off ends (entries past it are dropped here); oldest first, at most max_avoided.
    [[nodiscard]] std::vector<wire::block_ref> avoided(clock::time_point now);
    /// Releases (as expire()) only the outstanding requests sent `age` or more before `now`:
    /// blocks a peer that answers others has skipped (lost, or hostile); oldest first.
    [[nodiscard]] std::vector<wire::block_ref> expire_older(clock::time_point now,
                                                            clock::duration age,
                                                            clock::duration cooloff);
    /// True when requests are outstanding and the peer has answered none of them (sent no
    /// block we asked for) for `timeout`: counted from its last block, or from the oldest
    /// request when that was sent later. A peer that serves a deep queue slowly but steadily
    /// is never overdue, however long its oldest request waits.
    [[nodiscard]] bool overdue(clock::time_point now, clock::duration timeout) const;
    /// The timeout for this peer's requests (request_timeout() in peer_policy.hpp).
    [[nodiscard]] std::chrono::milliseconds timeout(const torrent_options& options) const {
        return request_timeout(round_trips_, options);
    }
    /// The peer's block round trips (request sent to block arrived) so far.
    [[nodiscard]] const rtt_estimator& round_trips() const { return round_trips_; }

    // ---- the pipeline
    /// The peer's BEP 10 reqq (capped by the caller).
    void set_peer_reqq(std::uint32_t reqq) { peer_reqq_ = reqq; }
    /// A snubbed peer (its requests timed out) gets a trickle until it delivers again.
    void set_snubbed(bool snubbed) { snubbed_ = snubbed; }
    [[nodiscard]] bool snubbed() const { return snubbed_; }
    /// Requests to keep outstanding at `download_rate` bytes/s (see pipeline_target()).
    [[nodiscard]] std::uint32_t target(double download_rate, bool received_any,
                                       const torrent_options& options) const;

    // ---- the peer's requests to us
    /// Queues a request of the unchoked peer; false when `limit` are already queued (a flood).
    [[nodiscard]] bool queue_incoming(const wire::block_ref& block, std::size_t limit);
    /// Counts a request made while choked; false once more than `limit` came since the last
    /// unchoke (a flood).
    [[nodiscard]] bool count_choked_request(std::size_t limit);
    /// We unchoked the peer: its choked requests are counted afresh.
    void unchoked() { requests_while_choked_ = 0; }
    /// Removes a queued request (CANCEL); true when it was queued.
    [[nodiscard]] bool cancel_incoming(const wire::block_ref& block);
    /// The oldest queued request, removed from the queue.
    [[nodiscard]] std::optional<wire::block_ref> next_incoming();
    /// Empties the queue (we choked the peer) and returns what it held, oldest first.
    [[nodiscard]] std::vector<wire::block_ref> take_incoming();
    [[nodiscard]] bool incoming_empty() const { return incoming_head_ == incoming_.size(); }

    /// Aborts (MINIBIT_ASSERT) when the queues break their bounds or order. O(requests).
    void check_invariants() const;

private:
    struct pending_request {
        wire::block_ref block;
        clock::time_point sent;
    };
    struct avoided_block {
        wire::block_ref block;
        clock::time_point until;
    };
    /// Removes `block` from the outstanding requests; false when it is not there.
    bool erase_outstanding(const wire::block_ref& block);
    void remember_released(const wire::block_ref& block);
    /// Releases the first `n` outstanding requests and avoids them for `cooloff`.
    std::vector<wire::block_ref> expire_first(std::size_t n, clock::time_point now,
                                              clock::duration cooloff);

    // Vectors, not std::deques: libstdc++ gives every deque a 576-byte block when it is made,
    // even one that stays empty (12 KB per in-process peer in heaptrack, issue 15); an empty
    // vector holds nothing.
    std::vector<pending_request> outstanding_;  ///< oldest first
    std::vector<wire::block_ref> released_;     ///< oldest first, at most max_released
    /// Blocks this peer let time out, oldest first: another peer gets them first (a peer that
    /// never serves some blocks is not asked for them again and again while it has others).
    std::vector<avoided_block> avoided_;
    /// The peer's, oldest first from incoming_head_ (those before it were served; dropped
    /// once they are half the vector or all of it).
    std::vector<wire::block_ref> incoming_;
    std::size_t incoming_head_ = 0;
    rtt_estimator round_trips_;                ///< of answered outstanding requests
    clock::time_point last_block_{};           ///< the peer's last block we asked for
    std::uint32_t peer_reqq_ = 250;            ///< BEP 10 reqq of the peer (default when absent)
    std::uint32_t requests_while_choked_ = 0;  ///< since our last unchoke
    bool snubbed_ = false;
};

}  // namespace minibit::swarm
