#include "minibit/swarm/piece_picker.hpp"

#include <algorithm>
#include <utility>

namespace minibit::swarm {
namespace {

/// Moves n randomly chosen elements of v to its front (partial Fisher-Yates) and drops the rest.
void take_random(std::vector<std::uint32_t>& v, std::size_t n, std::mt19937_64& rng) {
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
    : piece_count_(piece_count),
      piece_length_(piece_length),
      last_piece_length_(last_piece_length),
      config_(config),
      have_(piece_count),
      pieces_(piece_count),
      pos_(piece_count),
      avail_(piece_count, 0),
      bucket_start_{0, piece_count} {
    for (std::uint32_t p = 0; p < piece_count; ++p) {
        pieces_[p] = p;
        pos_[p] = p;
        unrequested_blocks_ += blocks_in(piece_index{p});
    }
}

std::uint32_t piece_picker::blocks_in(piece_index p) const {
    const std::uint32_t size = p.get() + 1 == piece_count_ ? last_piece_length_ : piece_length_;
    return (size + block_size_bytes - 1) / block_size_bytes;
}

std::uint32_t piece_picker::block_length(block_address b) const {
    const std::uint32_t size =
        b.piece.get() + 1 == piece_count_ ? last_piece_length_ : piece_length_;
    return std::min(block_size_bytes, size - b.block.get() * block_size_bytes);
}

void piece_picker::move_up(std::uint32_t p) {
    const std::uint32_t a = avail_[p];
    if (a + 2 >= bucket_start_.size()) {
        bucket_start_.push_back(piece_count_);
    }
    // Swap p with the last piece of bucket a, then move the edge of bucket a+1 down over it.
    const std::uint32_t last = bucket_start_[a + 1] - 1;
    const std::uint32_t other = pieces_[last];
    std::swap(pieces_[pos_[p]], pieces_[last]);
    pos_[other] = pos_[p];
    pos_[p] = last;
    --bucket_start_[a + 1];
    ++avail_[p];
}

void piece_picker::move_down(std::uint32_t p) {
    const std::uint32_t a = avail_[p];
    // Swap p with the first piece of bucket a, then move the edge of bucket a up past it.
    const std::uint32_t first = bucket_start_[a];
    const std::uint32_t other = pieces_[first];
    std::swap(pieces_[pos_[p]], pieces_[first]);
    pos_[other] = pos_[p];
    pos_[p] = first;
    ++bucket_start_[a];
    --avail_[p];
}

void piece_picker::add_peer(const bitfield& peer_has) {
    if (peer_has.size() != piece_count_) {
        return;
    }
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
        if (peer_has.test(piece_index{p})) {
            move_up(p);
        }
    }
}

void piece_picker::remove_peer(const bitfield& peer_has) {
    if (peer_has.size() != piece_count_) {
        return;
    }
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
        if (peer_has.test(piece_index{p}) && avail_[p] > 0) {
            move_down(p);
        }
    }
}

void piece_picker::remove_seed() {
    if (seeds_ > 0) {
        --seeds_;
    }
}

void piece_picker::on_have(piece_index p) {
    if (p.get() < piece_count_) {
        move_up(p.get());
    }
}

std::uint32_t piece_picker::availability(piece_index p) const {
    return avail_.at(p.get()) + seeds_;
}

bool piece_picker::has_free_blocks(std::uint32_t p) const {
    const auto it = downloading_.find(p);
    return it == downloading_.end() || it->second.free_blocks > 0;
}

bool piece_picker::wanted(std::uint32_t p, const bitfield& peer_has) const {
    return !have_.test(piece_index{p}) && peer_has.test(piece_index{p}) && has_free_blocks(p) &&
           (shared_ == nullptr || shared_->claimable(piece_index{p}, shard_));
}

bool piece_picker::take_claim(std::uint32_t p) {
    if (shared_ == nullptr) {
        return true;
    }
    if (std::find(claimed_.begin(), claimed_.end(), p) != claimed_.end()) {
        return true;
    }
    if (!shared_->try_claim(piece_index{p}, shard_)) {
        return false;
    }
    claimed_.push_back(p);
    return true;
}

void piece_picker::drop_claim(std::uint32_t p) {
    const auto it = std::find(claimed_.begin(), claimed_.end(), p);
    if (it != claimed_.end()) {
        claimed_.erase(it);
    }
}

std::vector<piece_index> piece_picker::idle_claims() const {
    std::vector<piece_index> out;
    for (std::uint32_t p : claimed_) {
        const auto it = downloading_.find(p);
        if (it == downloading_.end()) {
            out.push_back(piece_index{p});  // claimed, failed its check, not asked for again
            continue;
        }
        const piece_progress& pp = it->second;
        if (pp.received_blocks == pp.received.size()) {
            continue;  // complete: being verified
        }
        const bool asked = std::any_of(pp.requested_by.begin(), pp.requested_by.end(),
                                       [](const auto& who) { return !who.empty(); });
        if (!asked) {
            out.push_back(piece_index{p});
        }
    }
    return out;
}

void piece_picker::abandon(piece_index p) {
    const auto it = downloading_.find(p.get());
    if (it != downloading_.end() && !have_.test(p)) {
        unrequested_blocks_ += blocks_in(p) - it->second.free_blocks;
        downloading_.erase(it);
    }
    drop_claim(p.get());
    if (shared_ != nullptr) {
        shared_->release(p, shard_);
    }
}

piece_picker::piece_progress& piece_picker::progress(std::uint32_t p) {
    auto [it, inserted] = downloading_.try_emplace(p);
    if (inserted) {
        const std::uint32_t n = blocks_in(piece_index{p});
        it->second.requested_by.resize(n);
        it->second.received.resize(n, false);
        it->second.free_blocks = n;
    }
    return it->second;
}

std::vector<piece_index> piece_picker::pick(const bitfield& peer_has, std::size_t count,
                                            std::mt19937_64& rng) const {
    std::vector<piece_index> out;
    if (peer_has.size() != piece_count_ || count == 0) {
        return out;
    }
    // Partly downloaded pieces first (libtorrent: partial pieces are wasteful), rarest first.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> partial;  // (availability, piece)
    for (const auto& [p, pp] : downloading_) {
        if (wanted(p, peer_has)) {
            partial.emplace_back(avail_[p], p);
        }
    }
    std::sort(partial.begin(), partial.end());
    for (std::size_t i = 0; i < partial.size() && out.size() < count; ++i) {
        out.push_back(piece_index{partial[i].second});
    }
    if (have_count() < config_.random_first_pieces) {
        pick_random(peer_has, count, rng, out);
    } else {
        pick_rarest(peer_has, count, rng, out);
    }
    return out;
}

void piece_picker::pick_random(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                               std::vector<piece_index>& out) const {
    if (out.size() >= count) {
        return;
    }
    std::vector<std::uint32_t> candidates;
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
        if (wanted(p, peer_has) && !downloading_.contains(p)) {
            candidates.push_back(p);
        }
    }
    take_random(candidates, count - out.size(), rng);
    for (std::uint32_t p : candidates) {
        out.push_back(piece_index{p});
    }
}

void piece_picker::pick_rarest(const bitfield& peer_has, std::size_t count, std::mt19937_64& rng,
                               std::vector<piece_index>& out) const {
    std::vector<std::uint32_t> candidates;
    for (std::size_t a = 0; a + 1 < bucket_start_.size() && out.size() < count; ++a) {
        candidates.clear();
        for (std::uint32_t i = bucket_start_[a]; i < bucket_start_[a + 1]; ++i) {
            const std::uint32_t p = pieces_[i];
            if (wanted(p, peer_has) && !downloading_.contains(p)) {
                candidates.push_back(p);
            }
        }
        // Random among equally rare pieces, to even out the piece distribution.
        take_random(candidates, count - out.size(), rng);
        for (std::uint32_t p : candidates) {
            out.push_back(piece_index{p});
        }
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
                                                        std::size_t count,
                                                        std::mt19937_64& rng) {
    std::vector<block_address> out;
    for (piece_index p : pick(peer_has, count, rng)) {
        if (reserved_for_other(p.get(), peer)) {
            continue;  // being fetched again by one peer alone after a hash failure
        }
        if (!take_claim(p.get())) {
            continue;  // another reactor claimed it since pick() looked
        }
        piece_progress& pp = progress(p.get());
        for (std::uint32_t b = 0; b < pp.received.size() && out.size() < count; ++b) {
            if (pp.requested_by[b].empty() && !pp.received[b]) {
                const block_address addr{p, block_index{b}};
                claim(peer, addr, pp);
                out.push_back(addr);
            }
        }
        if (out.size() == count) {
            break;
        }
    }
    if (out.size() < count && in_endgame() && peer_has.size() == piece_count_) {
        pick_duplicates(peer, peer_has, count, out);
    }
    return out;
}

void piece_picker::pick_duplicates(peer_slot peer, const bitfield& peer_has, std::size_t count,
                                   std::vector<block_address>& out) {
    std::vector<block_address> candidates;
    for (auto& [p, pp] : downloading_) {
        if (have_.test(piece_index{p}) || !peer_has.test(piece_index{p}) ||
            reserved_for_other(p, peer)) {
            continue;
        }
        for (std::uint32_t b = 0; b < pp.received.size(); ++b) {
            const auto& who = pp.requested_by[b];
            if (!pp.received[b] && !who.empty() && who.size() < config_.max_requesters_per_block &&
                std::find(who.begin(), who.end(), peer) == who.end()) {
                candidates.push_back({piece_index{p}, block_index{b}});
            }
        }
    }
    std::sort(candidates.begin(), candidates.end());
    for (std::size_t i = 0; i < candidates.size() && out.size() < count; ++i) {
        claim(peer, candidates[i], downloading_.at(candidates[i].piece.get()));
        out.push_back(candidates[i]);
    }
}

block_arrival piece_picker::on_block_received(peer_slot from, block_address b) {
    block_arrival arrival;
    const std::uint32_t p = b.piece.get();
    if (p >= piece_count_ || b.block.get() >= blocks_in(b.piece) || have_.test(b.piece)) {
        return arrival;
    }
    if (!downloading_.contains(p) && !take_claim(p)) {
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
    return arrival;
}

void piece_picker::reserve(piece_index p, peer_slot peer) {
    if (p.get() < piece_count_ && !have_.test(p)) {
        reserved_[p.get()] = peer;
    }
}

bool piece_picker::reserved_for_other(std::uint32_t p, peer_slot peer) const {
    const auto it = reserved_.find(p);
    return it != reserved_.end() && it->second != peer;
}

void piece_picker::on_request_dropped(peer_slot peer, block_address b) {
    if (const auto r = reserved_.find(b.piece.get()); r != reserved_.end() && r->second == peer) {
        reserved_.erase(r);  // it will not serve the piece: anyone may fetch it again
    }
    const auto it = downloading_.find(b.piece.get());
    if (it != downloading_.end() && b.block.get() < it->second.received.size()) {
        release(peer, b, it->second);
    }
}

void piece_picker::on_piece_passed(piece_index p) {
    if (p.get() >= piece_count_ || !have_.set(p)) {
        return;
    }
    drop_claim(p.get());
    reserved_.erase(p.get());
    const auto it = downloading_.find(p.get());
    if (it == downloading_.end()) {
        unrequested_blocks_ -= blocks_in(p);
        return;
    }
    unrequested_blocks_ -= it->second.free_blocks;
    downloading_.erase(it);
}

void piece_picker::on_piece_failed(piece_index p) {
    reserved_.erase(p.get());
    const auto it = downloading_.find(p.get());
    if (it == downloading_.end() || have_.test(p)) {
        return;
    }
    // Forget every block: a piece absent from downloading_ has all its blocks free.
    unrequested_blocks_ += blocks_in(p) - it->second.free_blocks;
    downloading_.erase(it);
}

std::vector<block_address> piece_picker::on_peer_gone(peer_slot peer) {
    std::erase_if(reserved_, [peer](const auto& r) { return r.second == peer; });
    std::vector<block_address> released;
    for (auto& [p, pp] : downloading_) {
        for (std::uint32_t b = 0; b < pp.requested_by.size(); ++b) {
            const auto& who = pp.requested_by[b];
            if (std::find(who.begin(), who.end(), peer) != who.end()) {
                const block_address addr{piece_index{p}, block_index{b}};
                release(peer, addr, pp);
                released.push_back(addr);
            }
        }
    }
    std::sort(released.begin(), released.end());
    return released;
}

std::vector<peer_slot> piece_picker::requesters(block_address b) const {
    const auto it = downloading_.find(b.piece.get());
    if (it == downloading_.end() || b.block.get() >= it->second.requested_by.size()) {
        return {};
    }
    return it->second.requested_by[b.block.get()];
}

}  // namespace minibit::swarm
