#include "minibit/swarm/smart_ban.hpp"

#include <algorithm>

#include "minibit/core/assert.hpp"

namespace minibit::swarm {

void smart_ban::record_sender(piece_index p, block_index b, std::uint32_t blocks_in_piece,
                              peer_slot from) {
    auto& senders = senders_[p];
    senders.resize(blocks_in_piece);
    if (b.get() < senders.size()) {
        senders[b.get()] = from;
    }
}

std::vector<smart_ban::sender_count> smart_ban::piece_failed(piece_index p,
                                                             const digest_fn& digest) {
    std::vector<sender_count> involved;
    const auto it = senders_.find(p);
    if (it == senders_.end()) {
        return involved;
    }
    const std::vector<std::optional<peer_slot>> senders = std::move(it->second);
    senders_.erase(it);
    std::vector<suspect_block> kept;
    for (std::uint32_t i = 0; i < senders.size(); ++i) {
        if (!senders[i]) {
            continue;
        }
        if (const auto d = digest(p, block_index{i})) {
            kept.push_back({block_index{i}, *senders[i], *d});
        }
        const auto who = std::find_if(involved.begin(), involved.end(),
                                      [&](const sender_count& s) { return s.slot == *senders[i]; });
        if (who == involved.end()) {
            involved.push_back({*senders[i], 1});
        } else {
            ++who->blocks;
        }
    }
    if (!kept.empty()) {
        auto& suspects = suspects_[p];
        suspects.insert(suspects.end(), kept.begin(), kept.end());
    }
    return involved;
}

std::vector<peer_slot> smart_ban::piece_passed(piece_index p, const digest_fn& digest) {
    senders_.erase(p);
    std::vector<peer_slot> guilty;
    const auto it = suspects_.find(p);
    if (it == suspects_.end()) {
        return guilty;
    }
    // The piece now verifies: any kept block that differs from the good data was bad.
    for (const suspect_block& s : it->second) {
        const auto good = digest(p, s.block);
        if (good && *good != s.digest &&
            std::find(guilty.begin(), guilty.end(), s.sender) == guilty.end()) {
            guilty.push_back(s.sender);
        }
    }
    suspects_.erase(it);
    return guilty;
}

bool smart_ban::charge(peer_slot slot) {
    return ++strikes_[slot] >= strikes_to_ban_;
}

std::uint32_t smart_ban::strikes(peer_slot slot) const {
    const auto it = strikes_.find(slot);
    return it == strikes_.end() ? 0 : it->second;
}

bool smart_ban::ban(const std::string& addr, const std::optional<wire::peer_id>& id) {
    bool fresh = banned_addrs_.insert(addr).second;
    if (id) {
        fresh = banned_ids_.insert(*id).second || fresh;
    }
    return fresh;
}

void smart_ban::check_invariants() const {
    for (const auto& [p, senders] : senders_) {
        MINIBIT_ASSERT(std::any_of(senders.begin(), senders.end(),
                                   [](const auto& s) { return s.has_value(); }),
                       "a piece's sender list names nobody");
    }
    for (const auto& [p, kept] : suspects_) {
        MINIBIT_ASSERT(!kept.empty(), "an empty suspect list is kept");
    }
    for (const auto& [slot, n] : strikes_) {
        MINIBIT_ASSERT(n > 0, "a strike count of zero is kept");
    }
}

}  // namespace minibit::swarm
