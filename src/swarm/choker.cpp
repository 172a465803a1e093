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

/// Seeding: where a candidate stands in the rotation.
enum class seed_tier {
    holding,  ///< unchoked less than the hold time: keeps its slot
    waiting,  ///< choked: the longest waiting goes first
    expired,  ///< held its slot for the hold time: yields it to anyone waiting
};

seed_tier tier_of(const choker_peer& p, const choker_config& config,
                  std::chrono::milliseconds now) {
    if (p.am_choking) {
        return seed_tier::waiting;
    }
    // A tenth of an interval of slack: the rechoke timer fires a little late or early.
    const auto hold = config.rechoke_interval *
                          std::max<std::uint32_t>(1, config.seed_hold_rechokes) -
                      config.rechoke_interval / 10;
    return now - p.choke_changed_at < hold ? seed_tier::holding : seed_tier::expired;
}

/// Seed order: holders, then waiters (longest waiting first), then expired holders.
bool seed_before(const choker_peer& a, const choker_peer& b, const choker_config& config,
                 std::chrono::milliseconds now) {
    const seed_tier ta = tier_of(a, config, now);
    const seed_tier tb = tier_of(b, config, now);
    if (ta != tb) {
        return ta < tb;
    }
    if (ta == seed_tier::waiting && a.choke_changed_at != b.choke_changed_at) {
        return a.choke_changed_at < b.choke_changed_at;
    }
    return a.upload_rate != b.upload_rate ? a.upload_rate > b.upload_rate : a.id < b.id;
}

/// Leech order: tit-for-tat (who gives us most), then the longest waiting.
bool leech_before(const choker_peer& a, const choker_peer& b) {
    if (a.download_rate != b.download_rate) {
        return a.download_rate > b.download_rate;
    }
    if (a.choke_changed_at != b.choke_changed_at && a.am_choking && b.am_choking) {
        return a.choke_changed_at < b.choke_changed_at;
    }
    return a.id < b.id;
}

std::vector<peer_slot> pick_regular(std::span<const choker_peer> peers, choke_mode mode,
                                    const choker_config& config, std::chrono::milliseconds now) {
    std::vector<const choker_peer*> ranked;
    for (const auto& p : peers) {
        if (regular_candidate(p, mode)) {
            ranked.push_back(&p);
        }
    }
    std::sort(ranked.begin(), ranked.end(), [&](const choker_peer* a, const choker_peer* b) {
        return mode == choke_mode::leech ? leech_before(*a, *b) : seed_before(*a, *b, config, now);
    });
    std::vector<peer_slot> out;
    for (std::size_t i = 0; i < ranked.size() && i < config.slots; ++i) {
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
    const std::vector<peer_slot> regular = pick_regular(peers, mode, config, now);
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

slot_fill fill_slots(std::span<const choker_peer> peers, choke_mode mode,
                     const choker_config& config) {
    slot_fill f;
    std::uint32_t busy = 0;
    std::vector<const choker_peer*> waiting;
    for (const auto& p : peers) {
        const bool wants = p.interested && !p.is_seed;
        if (!p.am_choking) {
            if (wants) {
                ++busy;
            } else {
                f.to_choke.push_back(p.id);
            }
        } else if (wants) {
            waiting.push_back(&p);
        }
    }
    const std::uint32_t total = config.slots + config.optimistic_slots;
    if (busy >= total || waiting.empty()) {
        return f;
    }
    std::sort(waiting.begin(), waiting.end(), [mode](const choker_peer* a, const choker_peer* b) {
        if (mode == choke_mode::seed) {
            return a->choke_changed_at != b->choke_changed_at
                       ? a->choke_changed_at < b->choke_changed_at
                       : a->id < b->id;
        }
        // Leeching, a snubbed peer only gets a slot nobody else wants.
        return a->snubbed != b->snubbed ? !a->snubbed : leech_before(*a, *b);
    });
    for (std::size_t k = 0; k < waiting.size() && busy + k < total; ++k) {
        f.to_unchoke.push_back(waiting[k]->id);
    }
    return f;
}

}  // namespace minibit::swarm
