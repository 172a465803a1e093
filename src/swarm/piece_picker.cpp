#include "minibit/swarm/piece_picker.hpp"

#include <algorithm>
#include <utility>

#include "minibit/core/assert.hpp"
#include "minibit/swarm/zone_roster.hpp"

namespace minibit::swarm {
namespace {

/// Moves n randomly chosen elements of v to its front (partial Fisher-Yates) and drops the rest.
void take_random(std::vector<piece_index>& v, std::size_t n, std::mt19937_64& rng) {
    n = std::min(n, v.size());
    for (std::size_t i = 0; i < n; ++i) {
        std::uniform_int_distribution<std::size_t> dist(i, v.size() - 1);
        std::swap(v[i], v[dist(rng)]);
    }
    v.resize(n);
}

}  // namespace

piece_picker::piece_picker(std::uint32_t piece_count, std::uint32_t piece_length,
                           std::uint32_t last_piece_length, picker_config config)
    : bounds_{piece_count, piece_length, last_piece_length},
      config_(config),
      have_(piece_count),
      zone_have_(piece_count, 0),
      buckets_(piece_count),
      started_(piece_count) {
    for (piece_index p{0}; p.get() < piece_count; ++p) {
        unrequested_blocks_ += blocks_in(p);
    }
}

std::uint32_t piece_picker::blocks_in(piece_index p) const {
    return (bounds_.piece_size(p) + block_size_bytes - 1) / block_size_bytes;
}

std::uint32_t piece_picker::block_length(block_address b) const {
    return std::min(block_size_bytes,
                    bounds_.piece_size(b.piece) - b.block.get() * block_size_bytes);
}

void piece_picker::checked() const {
    if constexpr (MINIBIT_INVARIANTS_FULL) {
        check_invariants();
    }
}

void piece_picker::add_peer(const bitfield& peer_has, bool in_zone) {
    if (peer_has.size() != piece_count()) {
        return;
    }
    for (piece_index p{0}; p.get() < piece_count(); ++p) {
        if (peer_has.test(p)) {
            buckets_.up(p);
            if (in_zone) ++zone_have_[p.get()];
        }
    }
    checked();
}

void piece_picker::remove_peer(const bitfield& peer_has, bool in_zone) {
    if (peer_has.size() != piece_count()) {
        return;
    }
    for (piece_index p{0}; p.get() < piece_count(); ++p) {
        if (peer_has.test(p) && buckets_.count(p) > 0) {
            buckets_.down(p);
            if (in_zone && zone_have_[p.get()] > 0) --zone_have_[p.get()];
        }
    }
    checked();
}

void piece_picker::add_seed(bool in_zone) {
    ++seeds_;
    if (in_zone) ++zone_seeds_;
}

void piece_picker::remove_seed(bool in_zone) {
    if (seeds_ > 0) {
        --seeds_;
    }
    if (in_zone && zone_seeds_ > 0) {
        --zone_seeds_;
    }
}

void piece_picker::on_have(piece_index p, bool in_zone) {
    if (p.get() < piece_count()) {
        buckets_.up(p);
        if (in_zone) ++zone_have_[p.get()];
    }
    checked();
}

std::uint32_t piece_picker::zone_availability(piece_index p) const {
    MINIBIT_ASSERT(p.get() < piece_count(), "zone availability of a piece out of range");
    return zone_have_[p.get()] + zone_seeds_;
}

std::uint32_t piece_picker::availability(piece_index p) const {
    MINIBIT_ASSERT(p.get() < piece_count(), "availability of a piece out of range");
    return buckets_.count(p) + seeds_;
}

bool piece_picker::has_free_blocks(piece_index p) const {
    if (!started_.test(p)) {
        return true;  // no block asked for yet: no lookup in downloading_
    }
    const auto it = downloading_.find(p);
    return it == downloading_.end() || it->second.free_blocks > 0;
}

bool piece_picker::wanted(piece_index p, const bitfield& peer_has,
                          const zone_roster* across) const {
    return !have_.test(p) && peer_has.test(p) && has_free_blocks(p) &&
           (shared_ == nullptr || shared_->claimable(p, shard_)) &&
           (across == nullptr || (zone_availability(p) == 0 && across->owns(p)));
}

bool piece_picker::take_claim(piece_index p) {
    if (shared_ == nullptr) {
        return true;
    }
    if (std::find(claimed_.begin(), claimed_.end(), p) != claimed_.end()) {
        return true;
    }
    if (!shared_->try_claim(p, shard_)) {
        return false;
    }
    claimed_.push_back(p);
    return true;
}

void piece_picker::drop_claim(piece_index p) {
    const auto it = std::find(claimed_.begin(), claimed_.end(), p);
    if (it != claimed_.end()) {
        claimed_.erase(it);
    }
}

std::vector<piece_index> piece_picker::idle_claims() const {
    std::vector<piece_index> out;
    for (piece_index p : claimed_) {
        const auto it = downloading_.find(p);
        if (it == downloading_.end()) {
            out.push_back(p);  // claimed, failed its check, not asked for again
            continue;
        }
        const piece_progress& pp = it->second;
        if (pp.received_blocks == pp.received.size()) {
            continue;  // complete: being verified
        }
        const bool asked = std::any_of(pp.requested_by.begin(), pp.requested_by.end(),
                                       [](const auto& who) { return !who.empty(); });
        if (!asked) {
            out.push_back(p);
        }
    }
    return out;
}

void piece_picker::abandon(piece_index p) {
    const auto it = downloading_.find(p);
    if (it != downloading_.end() && !have_.test(p)) {
        unrequested_blocks_ += blocks_in(p) - it->second.free_blocks;
        downloading_.erase(it);
        started_.reset(p);
    }
    drop_claim(p);
    if (shared_ != nullptr) {
        shared_->release(p, shard_);
    }
    checked();
}

piece_picker::piece_progress& piece_picker::progress(piece_index p) {
    auto [it, inserted] = downloading_.try_emplace(p);
    if (inserted) {
        started_.set(p);
        const std::uint32_t n = blocks_in(p);
        it->second.requested_by.resize(n);
        it->second.received.resize(n, false);
        it->second.free_blocks = n;
    }
    return it->second;
}

std::vector<piece_index> piece_picker::pick(const bitfield& peer_has, std::size_t count,
                                            std::mt19937_64& rng, const zone_roster* across) const {
    std::vector<piece_index> out;
    if (peer_has.size() != piece_count() || count == 0) {
        return out;
    }
    // Partly downloaded pieces first (libtorrent: partial pieces are wasteful), rarest first.
    std::vector<std::pair<std::uint32_t, piece_index>> partial;  // (availability, piece)
    for (const auto& [p, pp] : downloading_) {
        if (wanted(p, peer_has, across)) {
            partial.emplace_back(buckets_.count(p), p);
        }
    }
    std::sort(partial.begin(), partial.end());
    // From a seed, pieces no other peer holds come before partial pieces another peer could
    // finish: the seed's uplink is the swarm's only source of those (fresh pieces keep every
    // leecher's uplink wanted; a partial piece elsewhere is a copy the swarm already has).
    const bool seed = peer_has.all();
    std::size_t i = 0;
    for (; i < partial.size() && out.size() < count && (!seed || partial[i].first == 0); ++i) {
        out.push_back(partial[i].second);
    }
    if (have_count() < config_.random_first_pieces) {
        pick_random(peer_has, count, rng, across, out);
    } else {
        pick_rarest(peer_has, count, rng, across, out);
    }
    for (; i < partial.size() && out.size() < count; ++i) {
        out.push_back(partial[i].second);
    }
    return out;
}

void piece_picker::pick_random(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                               const zone_roster* across, std::vector<piece_index>& out) const {
    if (out.size() >= count) {
        return;
    }
    std::vector<piece_index> candidates;
    for (piece_index p{0}; p.get() < piece_count(); ++p) {
        if (!started_.test(p) && wanted(p, peer_has, across)) {
            candidates.push_back(p);
        }
    }
    take_random(candidates, count - out.size(), rng);
    out.insert(out.end(), candidates.begin(), candidates.end());
}

void piece_picker::pick_rarest(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                               const zone_roster* across, std::vector<piece_index>& out) const {
    std::vector<piece_index> candidates;
    for (std::size_t a = 0; a < buckets_.bucket_count() && out.size() < count; ++a) {
        candidates.clear();
        for (piece_index p : buckets_.bucket(a)) {
            if (!started_.test(p) && wanted(p, peer_has, across)) {
                candidates.push_back(p);
            }
        }
        // Random among equally rare pieces, to even out the piece distribution.
        take_random(candidates, count - out.size(), rng);
        out.insert(out.end(), candidates.begin(), candidates.end());
    }
}

void piece_picker::claim(peer_slot peer, block_address b, piece_progress& pp) {
    auto& who = pp.requested_by[b.block.get()];
    if (who.empty() && !pp.received[b.block.get()]) {
        --pp.free_blocks;
        --unrequested_blocks_;
    }
    who.push_back(peer);
}

void piece_picker::release(peer_slot peer, block_address b, piece_progress& pp) {
    auto& who = pp.requested_by[b.block.get()];
    const auto it = std::find(who.begin(), who.end(), peer);
    if (it == who.end()) {
        return;
    }
    who.erase(it);
    if (who.empty() && !pp.received[b.block.get()]) {
        ++pp.free_blocks;
        ++unrequested_blocks_;
    }
}

std::vector<block_address> piece_picker::request_blocks(peer_slot peer, const bitfield& peer_has,
                                                        std::size_t count, std::mt19937_64& rng,
                                                        const zone_roster* across,
                                                        std::span<const block_address> avoid) {
    const auto avoided = [&](const block_address& a) {
        return !avoid.empty() && std::binary_search(avoid.begin(), avoid.end(), a);
    };
    // pick() may name pieces whose free blocks are all avoided: ask for that many more.
    std::size_t avoided_pieces = 0;
    for (std::size_t i = 0; i < avoid.size(); ++i) {
        avoided_pieces += (i == 0 || avoid[i].piece != avoid[i - 1].piece) ? 1 : 0;
    }
    std::vector<block_address> out;
    for (piece_index p : pick(peer_has, count + avoided_pieces, rng, across)) {
        if (reserved_for_other(p, peer)) {
            continue;  // being fetched again by one peer alone after a hash failure
        }
        if (!take_claim(p)) {
            continue;  // another reactor claimed it since pick() looked
        }
        piece_progress& pp = progress(p);
        for (std::uint32_t b = 0; b < pp.received.size() && out.size() < count; ++b) {
            const block_address addr{p, block_index{b}};
            if (pp.requested_by[b].empty() && !pp.received[b] && !avoided(addr)) {
                claim(peer, addr, pp);
                out.push_back(addr);
            }
        }
        if (out.size() == count) {
            break;
        }
    }
    if (out.size() < count && in_endgame() && peer_has.size() == piece_count()) {
        pick_duplicates(peer, peer_has, count, {across, avoid}, out);
    }
    checked();
    return out;
}

void piece_picker::pick_duplicates(peer_slot peer, const bitfield& peer_has, std::size_t count,
                                   duplicate_limits limits, std::vector<block_address>& out) {
    const zone_roster* across = limits.across;
    std::vector<block_address> candidates;
    for (auto& [p, pp] : downloading_) {
        if (have_.test(p) || !peer_has.test(p) || reserved_for_other(p, peer) ||
            (across != nullptr && (zone_availability(p) > 0 || !across->owns(p)))) {
            continue;
        }
        for (std::uint32_t b = 0; b < pp.received.size(); ++b) {
            const auto& who = pp.requested_by[b];
            const block_address addr{p, block_index{b}};
            if (!pp.received[b] && !who.empty() && who.size() < config_.max_requesters_per_block &&
                std::find(who.begin(), who.end(), peer) == who.end() &&
                !std::binary_search(limits.avoid.begin(), limits.avoid.end(), addr)) {
                candidates.push_back(addr);
            }
        }
    }
    std::sort(candidates.begin(), candidates.end());
    for (std::size_t i = 0; i < candidates.size() && out.size() < count; ++i) {
        claim(peer, candidates[i], downloading_.at(candidates[i].piece));
        out.push_back(candidates[i]);
    }
}

block_arrival piece_picker::on_block_received(peer_slot from, block_address b) {
    block_arrival arrival;
    const piece_index p = b.piece;
    if (p.get() >= piece_count() || b.block.get() >= blocks_in(p) || have_.test(p)) {
        return arrival;
    }
    if (!started_.test(p) && !take_claim(p)) {
        return arrival;  // late block of a piece another reactor holds now
    }
    piece_progress& pp = progress(p);
    const std::uint32_t i = b.block.get();
    if (pp.received[i]) {
        return arrival;
    }
    if (pp.requested_by[i].empty()) {  // unsolicited, or our request was already dropped
        --pp.free_blocks;
        --unrequested_blocks_;
    }
    pp.received[i] = true;
    ++pp.received_blocks;
    for (peer_slot other : pp.requested_by[i]) {
        if (other != from) {
            arrival.cancel.push_back(other);
        }
    }
    pp.requested_by[i].clear();
    arrival.fresh = true;
    arrival.piece_complete = pp.received_blocks == pp.received.size();
    checked();
    return arrival;
}

void piece_picker::reserve(piece_index p, peer_slot peer) {
    if (p.get() < piece_count() && !have_.test(p)) {
        reserved_[p] = peer;
    }
    checked();
}

bool piece_picker::reserved_for_other(piece_index p, peer_slot peer) const {
    const auto it = reserved_.find(p);
    return it != reserved_.end() && it->second != peer;
}

void piece_picker::on_request_dropped(peer_slot peer, block_address b) {
    if (const auto r = reserved_.find(b.piece); r != reserved_.end() && r->second == peer) {
        reserved_.erase(r);  // it will not serve the piece: anyone may fetch it again
    }
    const auto it = downloading_.find(b.piece);
    if (it != downloading_.end() && b.block.get() < it->second.received.size()) {
        release(peer, b, it->second);
    }
    checked();
}

void piece_picker::on_piece_passed(piece_index p) {
    if (p.get() >= piece_count() || !have_.set(p)) {
        return;
    }
    drop_claim(p);
    reserved_.erase(p);
    const auto it = downloading_.find(p);
    if (it == downloading_.end()) {
        unrequested_blocks_ -= blocks_in(p);
    } else {
        unrequested_blocks_ -= it->second.free_blocks;
        downloading_.erase(it);
        started_.reset(p);
    }
    checked();
}

void piece_picker::on_piece_failed(piece_index p) {
    reserved_.erase(p);
    const auto it = downloading_.find(p);
    if (it == downloading_.end() || have_.test(p)) {
        return;
    }
    // Forget every block: a piece absent from downloading_ has all its blocks free.
    unrequested_blocks_ += blocks_in(p) - it->second.free_blocks;
    downloading_.erase(it);
    started_.reset(p);
    checked();
}

std::vector<block_address> piece_picker::on_peer_gone(peer_slot peer) {
    std::erase_if(reserved_, [peer](const auto& r) { return r.second == peer; });
    std::vector<block_address> released;
    for (auto& [p, pp] : downloading_) {
        for (std::uint32_t b = 0; b < pp.requested_by.size(); ++b) {
            const auto& who = pp.requested_by[b];
            if (std::find(who.begin(), who.end(), peer) != who.end()) {
                const block_address addr{p, block_index{b}};
                release(peer, addr, pp);
                released.push_back(addr);
            }
        }
    }
    std::sort(released.begin(), released.end());
    checked();
    return released;
}

std::vector<peer_slot> piece_picker::requesters(block_address b) const {
    const auto it = downloading_.find(b.piece);
    if (it == downloading_.end() || b.block.get() >= it->second.requested_by.size()) {
        return {};
    }
    return it->second.requested_by[b.block.get()];
}

// ---- invariants ----------------------------------------------------------------------------

void piece_picker::check_invariants() const {
    MINIBIT_ASSERT(have_.size() == piece_count(), "have bits sized for another torrent");
    buckets_.check_invariants();
    check_progress();
}

void piece_picker::check_progress() const {
    std::uint64_t unrequested = 0;
    for (piece_index p{0}; p.get() < piece_count(); ++p) {
        MINIBIT_ASSERT(started_.test(p) == downloading_.contains(p),
                       "started bits disagree with the pieces in progress");
        if (!have_.test(p) && !downloading_.contains(p)) {
            unrequested += blocks_in(p);
        }
    }
    for (const auto& [p, pp] : downloading_) {
        MINIBIT_ASSERT(p.get() < piece_count() && !have_.test(p),
                       "progress kept for a piece we have");
        MINIBIT_ASSERT(pp.requested_by.size() == blocks_in(p) && pp.received.size() == blocks_in(p),
                       "progress arrays sized for another piece");
        std::uint32_t free = 0;
        std::uint32_t received = 0;
        for (std::uint32_t b = 0; b < pp.received.size(); ++b) {
            received += pp.received[b] ? 1U : 0U;
            free += !pp.received[b] && pp.requested_by[b].empty() ? 1U : 0U;
            MINIBIT_ASSERT(!pp.received[b] || pp.requested_by[b].empty(),
                           "a received block is still requested");
        }
        MINIBIT_ASSERT(free == pp.free_blocks, "free block count drifted");
        MINIBIT_ASSERT(received == pp.received_blocks, "received block count drifted");
        unrequested += free;
    }
    MINIBIT_ASSERT(unrequested == unrequested_blocks_, "unrequested block count drifted");
    for (const auto& [p, who] : reserved_) {
        MINIBIT_ASSERT(p.get() < piece_count() && !have_.test(p), "reservation of a piece we have");
    }
    for (piece_index p : claimed_) {
        MINIBIT_ASSERT(shared_ != nullptr && !have_.test(p), "claim without sharing or verified");
    }
}

}  // namespace minibit::swarm
