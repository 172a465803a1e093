#include "minibit/swarm/request_queue.hpp"

#include <algorithm>

#include "minibit/core/assert.hpp"
#include "minibit/swarm/peer_policy.hpp"

namespace minibit::swarm {
namespace {

/// Removes the first `block` from q; false when it is not there.
bool erase_block(std::deque<wire::block_ref>& q, const wire::block_ref& block) {
    const auto it = std::find(q.begin(), q.end(), block);
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
        released_.pop_front();
    }
}

bool request_queue::take_arrival(const wire::block_ref& block, clock::time_point now) {
    const auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                                 [&](const pending_request& r) { return r.block == block; });
    if (it == outstanding_.end()) {
        return erase_block(released_, block);
    }
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

bool request_queue::overdue(clock::time_point now, clock::duration timeout) const {
    return !outstanding_.empty() && now - outstanding_.front().sent >= timeout;
}

std::uint32_t request_queue::target(double download_rate, bool received_any,
                                    const torrent_options& options) const {
    return pipeline_target({download_rate, received_any, snubbed_, peer_reqq_}, options);
}

bool request_queue::queue_incoming(const wire::block_ref& block, std::size_t limit) {
    if (incoming_.size() >= limit) {
        return false;
    }
    incoming_.push_back(block);
    return true;
}

bool request_queue::count_choked_request(std::size_t limit) {
    return ++requests_while_choked_ <= limit;
}

bool request_queue::cancel_incoming(const wire::block_ref& block) {
    return erase_block(incoming_, block);
}

std::optional<wire::block_ref> request_queue::next_incoming() {
    if (incoming_.empty()) {
        return std::nullopt;
    }
    const wire::block_ref block = incoming_.front();
    incoming_.pop_front();
    return block;
}

std::deque<wire::block_ref> request_queue::take_incoming() {
    std::deque<wire::block_ref> out;
    out.swap(incoming_);
    return out;
}

void request_queue::check_invariants() const {
    MINIBIT_ASSERT(released_.size() <= max_released, "released requests above their bound");
    for (std::size_t i = 1; i < outstanding_.size(); ++i) {
        MINIBIT_ASSERT(outstanding_[i - 1].sent <= outstanding_[i].sent,
                       "outstanding requests out of send order");
    }
}

}  // namespace minibit::swarm
