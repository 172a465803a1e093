#include "minibit/swarm/choker.hpp"

#include <algorithm>

namespace minibit::swarm {
namespace {

bool contains(const std::vector<peer_slot>& v, peer_slot id) {
    return std::find(v.begin(), v.end(), id) != v.end();
}

/// Anti-snubbing: a snubbed peer can only get an optimistic slot while we leech.
bool regular_candidate(const choker_peer& p, choke_mode mode) {
    return p.interested && !p.is_seed && (mode == choke_mode::seed || !p.snubbed);
}

std::vector<peer_slot> pick_regular(std::span<const choker_peer> peers, choke_mode mode,
                                    std::uint32_t slots) {
    std::vector<const choker_peer*> ranked;
    for (const auto& p : peers) {
        if (regular_candidate(p, mode)) {
            ranked.push_back(&p);
        }
    }
    // Leeching: who gives us most (tit-for-tat); seeding: who takes from us fastest.
    const auto rate = [mode](const choker_peer* p) {
        return mode == choke_mode::leech ? p->download_rate : p->upload_rate;
    };
    std::sort(ranked.begin(), ranked.end(), [&](const choker_peer* a, const choker_peer* b) {
        return rate(a) != rate(b) ? rate(a) > rate(b) : a->id < b->id;
    });
    std::vector<peer_slot> out;
    for (std::size_t i = 0; i < ranked.size() && i < slots; ++i) {
        out.push_back(ranked[i]->id);
    }
    return out;
}

/// One optimistic pick: new peers weigh 3 (BEP 3), peers that just had the slot are avoided.
const choker_peer* pick_optimistic(const std::vector<const choker_peer*>& eligible,
                                   const choker_state& state, std::chrono::milliseconds now,
                                   std::chrono::milliseconds new_window, std::mt19937_64& rng) {
    std::vector<const choker_peer*> fresh;
    for (const auto* p : eligible) {
        if (!contains(state.optimistic, p->id)) {
            fresh.push_back(p);
        }
    }
    const auto& pool = fresh.empty() ? eligible : fresh;
    if (pool.empty()) {
        return nullptr;
    }
    std::uint64_t total = 0;
    const auto weight = [&](const choker_peer* p) -> std::uint64_t {
        return now - p->connected_at < new_window ? 3 : 1;
    };
    for (const auto* p : pool) {
        total += weight(p);
    }
    std::uniform_int_distribution<std::uint64_t> dist(0, total - 1);
    std::uint64_t ticket = dist(rng);
    for (const auto* p : pool) {
        if (ticket < weight(p)) {
            return p;
        }
        ticket -= weight(p);
    }
    return pool.back();
}

}  // namespace

choke_decision rechoke(std::span<const choker_peer> peers, choke_mode mode,
                       const choker_config& config, const choker_state& state,
                       std::chrono::milliseconds now, std::mt19937_64& rng) {
    choke_decision d;
    const std::vector<peer_slot> regular = pick_regular(peers, mode, config.slots);
    const std::uint32_t every = std::max<std::uint32_t>(1, config.optimistic_every_rechokes);
    const bool rotate = state.round % every == 0;
    const auto new_window = config.rechoke_interval * every;

    std::vector<const choker_peer*> eligible;  // interested, not a seed, not already regular
    for (const auto& p : peers) {
        if (p.interested && !p.is_seed && !contains(regular, p.id)) {
            eligible.push_back(&p);
        }
    }
    for (const auto* p : eligible) {  // keep the current optimistic peers between rotations
        if (!rotate && contains(state.optimistic, p->id) &&
            d.optimistic.size() < config.optimistic_slots) {
            d.optimistic.push_back(p->id);
        }
    }
    while (d.optimistic.size() < config.optimistic_slots) {
        std::erase_if(eligible,
                      [&](const choker_peer* e) { return contains(d.optimistic, e->id); });
        const choker_peer* chosen = pick_optimistic(eligible, state, now, new_window, rng);
        if (chosen == nullptr) {
            break;
        }
        d.optimistic.push_back(chosen->id);
    }
    d.unchoke = regular;
    d.unchoke.insert(d.unchoke.end(), d.optimistic.begin(), d.optimistic.end());
    std::sort(d.unchoke.begin(), d.unchoke.end());
    std::sort(d.optimistic.begin(), d.optimistic.end());
    for (const auto& p : peers) {
        const bool keep = std::binary_search(d.unchoke.begin(), d.unchoke.end(), p.id);
        if (keep && p.am_choking) {
            d.to_unchoke.push_back(p.id);
        } else if (!keep && !p.am_choking) {
            d.to_choke.push_back(p.id);
        }
    }
    d.next = choker_state{state.round + 1, d.optimistic};
    return d;
}

}  // namespace minibit::swarm
