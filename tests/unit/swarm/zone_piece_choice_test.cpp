// The zone piece choice: a peer outside our zone is asked only for pieces no in-zone peer has,
// each such piece by one member of the zone, and the default zone rule (/24, /64).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string_view>
#include <vector>

#include "minibit/swarm/piece_picker.hpp"
#include "minibit/swarm/zone_roster.hpp"

namespace minibit::swarm {
namespace {

constexpr std::uint32_t kib16 = block_size_bytes;

/// "1101" -> a bitfield with pieces 0, 1 and 3.
bitfield bits(std::string_view s) {
    bitfield b(s.size());
    for (std::uint32_t i = 0; i < s.size(); ++i) {
        if (s[i] == '1') b.set(piece_index{i});
    }
    return b;
}

io::address addr(std::string_view text) {
    return *io::address::parse(text);
}

/// Pieces of the blocks asked for, without repeats.
std::set<std::uint32_t> pieces_of(const std::vector<block_address>& blocks) {
    std::set<std::uint32_t> out;
    for (const auto& b : blocks) out.insert(b.piece.get());
    return out;
}

/// The roster of host `self` in a zone of the hosts `zone` (self among them).
zone_roster roster_of(const io::address& self, const std::vector<io::address>& zone) {
    zone_roster r;
    r.set_self(host_key(self));
    for (const auto& m : zone) {
        if (!(m == self)) r.add_member(host_key(m));
    }
    return r;
}

TEST(ZoneRule, SameSlash24OrSlash64IsOneZone) {
    EXPECT_TRUE(same_default_zone(addr("198.18.1.5:6881"), addr("198.18.1.200:51000")));
    EXPECT_FALSE(same_default_zone(addr("198.18.1.5:6881"), addr("198.18.2.5:6881")));
    EXPECT_TRUE(same_default_zone(addr("[2001:db8:0:7::1]:1"), addr("[2001:db8:0:7:ffff::9]:2")));
    EXPECT_FALSE(same_default_zone(addr("[2001:db8:0:7::1]:1"), addr("[2001:db8:0:8::1]:1")));
    EXPECT_FALSE(same_default_zone(addr("198.18.1.5:1"), addr("[2001:db8::1]:1")));
    // A dual-stack socket reports IPv4 peers as IPv4-mapped: they compare as IPv4.
    EXPECT_TRUE(same_default_zone(addr("[::ffff:198.18.1.5]:1"), addr("198.18.1.9:1")));
    EXPECT_FALSE(same_default_zone(addr("[::ffff:198.18.1.5]:1"), addr("[::ffff:198.18.2.5]:1")));
    EXPECT_EQ(host_key(addr("198.18.1.5:1")), host_key(addr("198.18.1.5:40000")));
}

TEST(ZonePieceChoice, AnOutsidePeerIsNotAskedForPiecesAnInZonePeerHas) {
    piece_picker pp(4, kib16, kib16, picker_config{0, 2});
    pp.add_peer(bits("1100"), true);   // in our zone
    pp.add_peer(bits("1111"), false);  // outside
    EXPECT_EQ(pp.zone_availability(piece_index{0}), 1U);
    EXPECT_EQ(pp.zone_availability(piece_index{2}), 0U);
    zone_roster alone;  // no other member: we fetch every piece that must cross
    std::mt19937_64 rng(1);
    const auto outside = pp.request_blocks(peer_slot{1}, bits("1111"), 8, rng, &alone);
    EXPECT_EQ(pieces_of(outside), (std::set<std::uint32_t>{2, 3}));
    // The in-zone peer is asked for its pieces as usual.
    const auto inside = pp.request_blocks(peer_slot{0}, bits("1100"), 8, rng);
    EXPECT_EQ(pieces_of(inside), (std::set<std::uint32_t>{0, 1}));
    pp.check_invariants();
}

TEST(ZonePieceChoice, EachPieceComesAcrossThroughExactlyOneMemberOfTheZone) {
    const std::vector<io::address> zone{addr("198.18.1.2:6881"), addr("198.18.1.3:6881"),
                                        addr("198.18.1.4:6881"), addr("198.18.1.5:6881")};
    constexpr std::uint32_t pieces = 64;
    std::vector<int> fetchers(pieces, 0);
    std::vector<std::size_t> per_member;
    for (const auto& self : zone) {
        const zone_roster r = roster_of(self, zone);
        piece_picker pp(pieces, kib16, kib16, picker_config{0, 2});
        pp.add_seed(false);  // the only source is a seed outside the zone
        std::mt19937_64 rng(7);
        const auto asked = pieces_of(
            pp.request_blocks(peer_slot{0}, bitfield(pieces, true), pieces, rng, &r));
        for (std::uint32_t p : asked) ++fetchers[p];
        per_member.push_back(asked.size());
    }
    for (std::uint32_t p = 0; p < pieces; ++p) EXPECT_EQ(fetchers[p], 1) << "piece " << p;
    for (std::size_t n : per_member) EXPECT_GT(n, 0U);  // the work is shared out
}

TEST(ZonePieceChoice, AnInZoneSeedKeepsEveryPieceInside) {
    piece_picker pp(4, kib16, kib16, picker_config{0, 2});
    pp.add_seed(true);
    pp.add_seed(false);
    zone_roster alone;
    std::mt19937_64 rng(1);
    EXPECT_TRUE(pp.request_blocks(peer_slot{1}, bitfield(4, true), 8, rng, &alone).empty());
    pp.remove_seed(true);  // the in-zone seed left: the outside one is asked now
    EXPECT_EQ(pieces_of(pp.request_blocks(peer_slot{1}, bitfield(4, true), 8, rng, &alone)).size(),
              4U);
}

TEST(ZonePieceChoice, PiecesOfAnInZonePeerThatLeftMayComeFromOutside) {
    piece_picker pp(2, kib16, kib16, picker_config{0, 2});
    pp.add_peer(bits("10"), true);
    pp.on_have(piece_index{1}, true);
    zone_roster alone;
    std::mt19937_64 rng(1);
    EXPECT_TRUE(pp.request_blocks(peer_slot{2}, bits("11"), 8, rng, &alone).empty());
    pp.remove_peer(bits("11"), true);
    EXPECT_EQ(pp.zone_availability(piece_index{1}), 0U);
    EXPECT_EQ(pieces_of(pp.request_blocks(peer_slot{2}, bits("11"), 8, rng, &alone)),
              (std::set<std::uint32_t>{0, 1}));
}

TEST(ZonePieceChoice, ARelaxedRosterFetchesAnotherMembersPieces) {
    const std::vector<io::address> zone{addr("198.18.1.2:1"), addr("198.18.1.3:1")};
    zone_roster r = roster_of(zone[0], zone);
    constexpr std::uint32_t pieces = 32;
    piece_picker pp(pieces, kib16, kib16, picker_config{0, 2});
    pp.add_seed(false);
    std::mt19937_64 rng(3);
    const std::size_t own =
        pieces_of(pp.request_blocks(peer_slot{0}, bitfield(pieces, true), pieces, rng, &r)).size();
    EXPECT_LT(own, pieces);  // the other member fetches the rest across
    r.set_relaxed(true);     // ... until we stall: then any piece
    const std::size_t more =
        pieces_of(pp.request_blocks(peer_slot{0}, bitfield(pieces, true), pieces, rng, &r)).size();
    EXPECT_EQ(own + more, pieces);
    r.set_relaxed(false);
    r.remove_member(host_key(zone[1]));  // the other member went: all ours
    EXPECT_TRUE(r.owns(piece_index{0}) && r.owns(piece_index{31}));
}

}  // namespace
}  // namespace minibit::swarm
