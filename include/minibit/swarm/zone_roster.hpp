// Which of a torrent's peers share our zone, and which member of the zone fetches each piece
// across the zone's uplink. Without any zone file a peer can tell locality by itself: a peer
// whose address is in the same /24 (IPv4) or /64 (IPv6) as our side of the connection is in our
// zone (the tracker's default rule). Each piece gets one owner among the zone's members (us
// and the in-zone peers we are connected to, by host address): the member whose keyed hash of
// (host, piece) is smallest. Every member computes the same owner when it knows the same
// members, so only one host of a zone pulls a piece over the inter-zone link and the others
// get it from that host. No protocol extension: stock peers simply count as members that
// never fetch across. Owned by one torrent; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

#include "minibit/core/units.hpp"
#include "minibit/io/address.hpp"

namespace minibit::swarm {

/// True when a and b are in the same /24 (IPv4) or /64 (IPv6); different families never are.
[[nodiscard]] bool same_default_zone(const io::address& a, const io::address& b);
/// A 64-bit key for the host part of an address (the port is left out: a peer's port differs
/// between its outgoing and incoming connections); 0 for an empty address.
[[nodiscard]] std::uint64_t host_key(const io::address& a);

/// The members of our zone and the rule of which one fetches a piece from outside it.
class zone_roster {
public:
    /// Our own host (the local side of a connection); until set, we own every piece.
    void set_self(std::uint64_t key) { self_ = key; }
    /// An in-zone peer's host joined (counted: two connections from one host count twice).
    void add_member(std::uint64_t key);
    /// One connection of an in-zone host went.
    void remove_member(std::uint64_t key);
    /// In-zone hosts other than us.
    [[nodiscard]] std::size_t member_count() const { return members_.size(); }
    /// While relaxed, every member may fetch any piece across (a member that cannot get its
    /// pieces from outside must not stall the zone).
    void set_relaxed(bool relaxed) { relaxed_ = relaxed; }
    [[nodiscard]] bool relaxed() const { return relaxed_; }
    /// True when we are the member that fetches piece p from outside the zone (always while
    /// relaxed or alone); ties (one host, several connections or clients) count as ours.
    [[nodiscard]] bool owns(piece_index p) const;

private:
    std::uint64_t self_ = 0;
    std::map<std::uint64_t, std::uint32_t> members_;  ///< host key -> connections
    bool relaxed_ = false;
};

}  // namespace minibit::swarm
