#include "minibit/swarm/origin_plan.hpp"

#include <algorithm>
#include <tuple>

namespace minibit::swarm {

origin_plan::origin_plan(std::uint32_t piece_count, const origin_config& config)
    : config_(config),
      piece_count_(piece_count),
      offered_(piece_count, 0),
      seen_at_(piece_count, std::chrono::milliseconds{0}) {}

void origin_plan::add_peer_once(peer_slot peer, std::chrono::milliseconds since) {
    peers_.try_emplace(peer, peer_state{bitfield(piece_count_), bitfield(piece_count_), {}, since});
}

void origin_plan::remove_peer(peer_slot peer, const bitfield& has) {
    const auto it = peers_.find(peer);
    if (it == peers_.end()) {
        return;
    }
    for (piece_index p{0}; p.get() < piece_count_; ++p) {
        const bool taken = p.get() < has.size() && has.test(p);
        if (it->second.shown.test(p) && !taken && offered_[p.get()] > 0) {
            --offered_[p.get()];
        }
    }
    peers_.erase(it);
}

bool origin_plan::on_block_served(peer_slot peer, piece_index p, std::uint32_t blocks) {
    const auto it = peers_.find(peer);
    if (it == peers_.end() || p.get() >= piece_count_ || it->second.taken.test(p)) {
        return false;
    }
    peer_state& st = it->second;
    if (++st.served[p] < blocks) {
        return false;
    }
    st.served.erase(p);
    st.taken.set(p);
    return st.shown.test(p);
}

void origin_plan::on_progress(peer_slot peer, std::chrono::milliseconds now) {
    if (const auto it = peers_.find(peer); it != peers_.end()) {
        it->second.last_progress = now;
    }
}

std::vector<piece_index> origin_plan::offers(peer_slot peer, const bitfield& has,
                                             const copies_fn& copies, std::chrono::milliseconds now,
                                             std::mt19937_64& rng) {
    const auto it = peers_.find(peer);
    if (it == peers_.end()) {
        return {};
    }
    peer_state& st = it->second;
    const auto held = [&](piece_index p) {
        return (p.get() < has.size() && has.test(p)) || st.taken.test(p);
    };
    std::uint32_t owed = 0;  // shown, not taken yet
    for (piece_index p{0}; p.get() < piece_count_; ++p) {
        owed += st.shown.test(p) && !held(p) ? 1U : 0U;
        auto& seen = seen_at_[p.get()];
        if (seen.count() == 0 && copies(p) > 0) {
            seen = std::max(now, std::chrono::milliseconds{1});
        }
    }
    if (owed >= config_.offers_per_peer) {
        return {};
    }
    const bool starving = now - st.last_progress >= config_.starve_after;
    // (times offered, copies held, random) for every piece it may be shown.
    std::vector<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t, piece_index>> pool;
    for (piece_index p{0}; p.get() < piece_count_; ++p) {
        if (held(p) || st.shown.test(p)) {
            continue;
        }
        const std::uint32_t c = copies(p);
        const auto seen = seen_at_[p.get()];
        // Sent before: again only if it did not spread within the window.
        const bool stuck = offered_[p.get()] == 0 ||
                           (seen.count() != 0 && now - seen >= config_.spread_window);
        if ((c < config_.copies && stuck) || starving) {
            pool.emplace_back(offered_[p.get()], c, rng(), p);
        }
    }
    const std::size_t want = std::min<std::size_t>(config_.offers_per_peer - owed, pool.size());
    std::partial_sort(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(want), pool.end());
    std::vector<piece_index> out;
    for (std::size_t k = 0; k < want; ++k) {
        const piece_index p = std::get<3>(pool[k]);
        st.shown.set(p);
        ++offered_[p.get()];
        out.push_back(p);
    }
    if (starving && !out.empty()) {
        st.last_progress = now;  // one more wait before the next round of extra offers
    }
    return out;
}

}  // namespace minibit::swarm
