// The zone index of one peer list: its peers grouped by zone, so a zone-split answer samples the
// asker's zone and the other zones without walking the list. Parallel to the list's slots, each
// occupied slot's link names its group and its place in that group's member array; a group holds
// the slots of its peers in any order (removal swaps with the last). The peer list owns the index
// and moves links with its records. Built for one zone map (its serial). One thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "minibit/tracker/peer_list.hpp"
#include "minibit/tracker/zone_map.hpp"

namespace minibit::tracker {

class zone_index {
public:
    static constexpr std::uint32_t no_group = zone_link::no_group;
    using link = zone_link;

    /// An empty index for a list of `slots` slots, built from the zone map with `serial`.
    zone_index(std::uint64_t serial, std::size_t slots);

    /// The serial of the zone map the groups follow.
    [[nodiscard]] std::uint64_t serial() const { return serial_; }
    /// Joins a record to the group of zone `z`; returns its link (its slot is set by settle).
    link join(const zone_id& z);
    /// Takes the record at `slot` out of its group (the last member takes its place).
    void leave(std::size_t slot);
    /// The link at a slot (valid for occupied slots).
    [[nodiscard]] link& at(std::size_t slot) { return links_[slot]; }
    [[nodiscard]] const link& at(std::size_t slot) const { return links_[slot]; }
    /// Points the member entry of the record whose link is at `slot` at that slot.
    void settle(std::size_t slot) {
        const link l = links_[slot];
        groups_[l.group].members[l.pos] = static_cast<std::uint32_t>(slot);
    }
    /// The group of a zone, or no_group.
    [[nodiscard]] std::uint32_t group_of(const zone_id& z) const;
    /// The slots of a group's peers.
    [[nodiscard]] std::span<const std::uint32_t> members(std::uint32_t g) const {
        return groups_[g].members;
    }
    /// Number of group entries (live and free); a free one has no members.
    [[nodiscard]] std::size_t group_entries() const { return groups_.size(); }
    /// Number of groups with members.
    [[nodiscard]] std::size_t live_groups() const { return by_zone_.size(); }
    /// Heap bytes held.
    [[nodiscard]] std::size_t memory_bytes() const;
    /// Checks (MINIBIT_ASSERT) that the groups hold `size` records in all, that each member's
    /// link points back at its place, and that the zone table names exactly the groups with
    /// members (the peer list checks that every occupied slot is a member).
    void check_invariants(std::size_t size) const;

private:
    struct zone_hash {
        std::size_t operator()(const zone_id& z) const {
            return std::hash<std::uint64_t>{}(z.value * 0x9e3779b97f4a7c15ULL +
                                              static_cast<std::uint64_t>(z.from));
        }
    };
    struct group {
        zone_id zone;
        std::vector<std::uint32_t> members;  ///< slots of the list
    };

    std::uint64_t serial_;
    std::vector<link> links_;  ///< per slot of the list
    std::vector<group> groups_;
    std::vector<std::uint32_t> free_;  ///< group entries without members, for reuse
    std::unordered_map<zone_id, std::uint32_t, zone_hash> by_zone_;
};

}  // namespace minibit::tracker
