#include "zone_index.hpp"

#include "minibit/core/assert.hpp"

namespace minibit::tracker {

zone_index::zone_index(std::uint64_t serial, std::size_t slots) : serial_(serial), links_(slots) {}

zone_index::link zone_index::join(const zone_id& z) {
    auto [it, fresh] = by_zone_.emplace(z, no_group);
    if (fresh) {
        if (free_.empty()) {
            it->second = static_cast<std::uint32_t>(groups_.size());
            groups_.push_back(group{z, {}});
        } else {
            it->second = free_.back();
            free_.pop_back();
            groups_[it->second].zone = z;
        }
    }
    std::vector<std::uint32_t>& m = groups_[it->second].members;
    m.push_back(0);  // settle() writes the slot once the record has landed
    return link{it->second, static_cast<std::uint32_t>(m.size() - 1)};
}

void zone_index::leave(std::size_t slot) {
    const link l = links_[slot];
    group& g = groups_[l.group];
    const std::uint32_t last = g.members.back();
    g.members[l.pos] = last;
    links_[last].pos = l.pos;
    g.members.pop_back();
    links_[slot] = link{};
    if (g.members.empty()) {
        by_zone_.erase(g.zone);
        std::vector<std::uint32_t>().swap(g.members);
        free_.push_back(l.group);
    }
}

std::uint32_t zone_index::group_of(const zone_id& z) const {
    const auto it = by_zone_.find(z);
    return it == by_zone_.end() ? no_group : it->second;
}

std::size_t zone_index::memory_bytes() const {
    std::size_t total = links_.capacity() * sizeof(link) + groups_.capacity() * sizeof(group) +
                        free_.capacity() * sizeof(std::uint32_t) +
                        by_zone_.bucket_count() * sizeof(void*) +
                        by_zone_.size() * (sizeof(zone_id) + 4 * sizeof(void*));
    for (const group& g : groups_) total += g.members.capacity() * sizeof(std::uint32_t);
    return total;
}

void zone_index::check_invariants(std::size_t size) const {
    std::size_t members = 0;
    std::size_t live = 0;
    for (std::size_t i = 0; i < groups_.size(); ++i) {
        const group& g = groups_[i];
        members += g.members.size();
        if (g.members.empty()) continue;
        ++live;
        MINIBIT_ASSERT(group_of(g.zone) == i, "zone_index: a group's zone names another group");
        for (std::size_t p = 0; p < g.members.size(); ++p) {
            [[maybe_unused]] const std::uint32_t s = g.members[p];
            MINIBIT_ASSERT(s < links_.size() && links_[s].group == i && links_[s].pos == p,
                           "zone_index: a member's link points elsewhere");
        }
    }
    MINIBIT_ASSERT(members == size, "zone_index: members differ from the list's records");
    MINIBIT_ASSERT(live == by_zone_.size(), "zone_index: zone table differs from live groups");
    MINIBIT_ASSERT(live + free_.size() == groups_.size(), "zone_index: group entries lost");
    for ([[maybe_unused]] const std::uint32_t f : free_) {
        MINIBIT_ASSERT(groups_[f].members.empty(), "zone_index: a free group has members");
    }
}

}  // namespace minibit::tracker
