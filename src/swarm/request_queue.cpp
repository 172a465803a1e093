#include "minibit/swarm/request_queue.hpp"

#include <algorithm>
#include <utility>

#include "minibit/core/assert.hpp"
#include "minibit/swarm/peer_policy.hpp"

namespace minibit::swarm {
namespace {

/// A drained queue of the peer's requests keeps at most this many entries' room (384 bytes);
/// a larger buffer goes back to the allocator (a burst does not stay with an idle connection).
constexpr std::size_t kept_incoming_room = 32;

/// Removes the first `block` from q at or after `from`; false when it is not there.
bool erase_block(std::vector<wire::block_ref>& q, const wire::block_ref& block,
                 std::size_t from = 0) {
    const auto it = std::find(q.begin() + static_cast<std::ptrdiff_t>(from), q.end(), block);
    if (it == q.end()) {
        return false;
    }
    q.erase(it);
    return true;
}

}  // namespace

void request_queue::sent(const wire::block_ref& block, clock::time_point at) {
    outstanding_.push_back({block, at});
}

bool request_queue::erase_outstanding(const wire::block_ref& block) {
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return r.block == block; });
    if (it == outstanding_.end()) {
        return false;
    }
    outstanding_.erase(it);
    return true;
}

void request_queue::remember_released(const wire::block_ref& block) {
    released_.push_back(block);
    if (released_.size() > max_released) {
        released_.erase(released_.begin());  // O(max_released), only while at the bound
    }
}

bool request_queue::take_arrival(const wire::block_ref& block, clock::time_point now) {
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return r.block == block; });
    if (it == outstanding_.end()) {
        if (!erase_block(released_, block)) {
            return false;
        }
        last_block_ = std::max(last_block_, now);
        return true;
    }
    last_block_ = std::max(last_block_, now);
    round_trips_.sample(std::chrono::duration_cast<rtt_estimator::duration>(now - it->sent));
    outstanding_.erase(it);
    return true;
}

bool request_queue::take_rejected(const wire::block_ref& block) {
    if (erase_outstanding(block)) {
        remember_released(block);
        return true;
    }
    // A reject of a block we had released already: it will not come after all.
    (void)erase_block(released_, block);
    return false;
}

void request_queue::release(const wire::block_ref& block) {
    if (erase_outstanding(block)) {
        remember_released(block);
    }
}

std::vector<wire::block_ref> request_queue::release_all() {
    std::vector<wire::block_ref> out;
    out.reserve(outstanding_.size());
    for (const pending_request& r : outstanding_) {
        out.push_back(r.block);
        remember_released(r.block);
    }
    outstanding_.clear();
    return out;
}

std::vector<wire::block_ref> request_queue::expire(clock::time_point now, clock::duration cooloff) {
    // Every one, not only the overdue: those sent just after them wait behind them at the
    // peer, and a peer that skips some blocks would get them back one trickle at a time.
    return expire_first(outstanding_.size(), now, cooloff);
}

std::vector<wire::block_ref> request_queue::expire_first(std::size_t n, clock::time_point now,
                                                         clock::duration cooloff) {
    std::vector<wire::block_ref> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const wire::block_ref& block = outstanding_[i].block;
        avoided_.push_back({block, now + cooloff});
        out.push_back(block);
        remember_released(block);
    }
    outstanding_.erase(outstanding_.begin(), outstanding_.begin() + static_cast<std::ptrdiff_t>(n));
    if (avoided_.size() > max_avoided) {
        avoided_.erase(avoided_.begin(), avoided_.end() - static_cast<std::ptrdiff_t>(max_avoided));
    }
    return out;
}

std::vector<wire::block_ref> request_queue::avoided(clock::time_point now) {
    std::erase_if(avoided_, [&](const avoided_block& a) { return a.until <= now; });
    if (avoided_.empty()) {
        std::vector<avoided_block>{}.swap(avoided_);  // an idle connection keeps no buffer
    }
    std::vector<wire::block_ref> out;
    out.reserve(avoided_.size());
    for (const avoided_block& a : avoided_) {
        out.push_back(a.block);
    }
    return out;
}

std::vector<wire::block_ref> request_queue::expire_older(clock::time_point now, clock::duration age,
                                                         clock::duration cooloff) {
    // Sent in order: the old ones are a prefix.
    const auto end = std::find_if(outstanding_.begin(), outstanding_.end(),
                                  [&](const pending_request& r) { return now - r.sent < age; });
    return expire_first(static_cast<std::size_t>(end - outstanding_.begin()), now, cooloff);
}

bool request_queue::overdue(clock::time_point now, clock::duration timeout) const {
    // From the last block, not from the oldest request: on a saturated machine a peer's queue
    // of our requests can take longer than the timeout to drain while blocks keep coming (the
    // 1,000-peer run: three quarters of the blocks that timed out that way came later from
    // the same peer, before the copy asked elsewhere; BENCHMARKS.md).
    return !outstanding_.empty() &&
           now - std::max(outstanding_.front().sent, last_block_) >= timeout;
}

std::uint32_t request_queue::target(double download_rate, bool received_any,
                                    const torrent_options& options) const {
    const auto min_rtt = round_trips_.known() ? round_trips_.minimum() : rtt_estimator::duration{0};
    return pipeline_target({download_rate, received_any, snubbed_, peer_reqq_, min_rtt}, options);
}

bool request_queue::queue_incoming(const wire::block_ref& block, std::size_t limit) {
    if (incoming_.size() - incoming_head_ >= limit) {
        return false;
    }
    incoming_.push_back(block);
    return true;
}

bool request_queue::count_choked_request(std::size_t limit) {
    return ++requests_while_choked_ <= limit;
}

bool request_queue::cancel_incoming(const wire::block_ref& block) {
    return erase_block(incoming_, block, incoming_head_);
}

std::optional<wire::block_ref> request_queue::next_incoming() {
    if (incoming_empty()) {
        return std::nullopt;
    }
    const wire::block_ref block = incoming_[incoming_head_++];
    if (incoming_head_ == incoming_.size()) {
        incoming_head_ = 0;
        if (incoming_.capacity() > kept_incoming_room) {
            std::vector<wire::block_ref>{}.swap(incoming_);
        } else {
            incoming_.clear();
        }
    } else if (incoming_head_ * 2 >= incoming_.size()) {
        // The served half goes: amortised O(1) per request, and the vector stays within
        // twice the queue.
        incoming_.erase(incoming_.begin(),
                        incoming_.begin() + static_cast<std::ptrdiff_t>(incoming_head_));
        incoming_head_ = 0;
    }
    return block;
}

std::vector<wire::block_ref> request_queue::take_incoming() {
    // The unserved part, in its own buffer: no copy, and the queue holds nothing afterwards.
    incoming_.erase(incoming_.begin(),
                    incoming_.begin() + static_cast<std::ptrdiff_t>(incoming_head_));
    incoming_head_ = 0;
    return std::exchange(incoming_, {});
}

void request_queue::check_invariants() const {
    MINIBIT_ASSERT(released_.size() <= max_released, "released requests above their bound");
    MINIBIT_ASSERT(avoided_.size() <= max_avoided, "avoided blocks above their bound");
    MINIBIT_ASSERT(incoming_head_ <= incoming_.size(), "served requests past the queue's end");
    for (std::size_t i = 1; i < outstanding_.size(); ++i) {
        MINIBIT_ASSERT(outstanding_[i - 1].sent <= outstanding_[i].sent,
                       "outstanding requests out of send order");
    }
}

}  // namespace minibit::swarm
