// Hostile and broken peers against the engine: each protocol violation closes that connection
// only (counted, logged), a corrupt-data peer gets banned while the download from an honest
// seeder completes. The bad peer is a raw socket in the test speaking the protocol by hand.
#include <gtest/gtest.h>

#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

constexpr std::size_t file_bytes = 256 * 1024 + 777;
constexpr std::uint64_t piece_bytes = 32 * 1024;

using SwarmHostile = SwarmTest;

/// Big-endian u32.
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 24U));
    out.push_back(static_cast<std::uint8_t>(v >> 16U));
    out.push_back(static_cast<std::uint8_t>(v >> 8U));
    out.push_back(static_cast<std::uint8_t>(v));
}

/// A message frame: length prefix, id, payload.
std::vector<std::uint8_t> frame(std::uint8_t id, const std::vector<std::uint8_t>& payload) {
    std::vector<std::uint8_t> out;
    put_u32(out, static_cast<std::uint32_t>(payload.size() + 1));
    out.push_back(id);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

/// Runs one hostile byte sequence against a seeder, with an honest leecher downloading too.
void expect_only_that_connection_closes(io::reactor& r, session& seed, session& leech,
                                        const metainfo& m, const std::vector<std::uint8_t>& hostile,
                                        std::string_view reason) {
    raw_peer bad(r, m, io::address::loopback_v4(seed.port()));
    ASSERT_TRUE(spin(r, [&] { return bad.handshaken() || bad.closed(); }));
    ASSERT_TRUE(bad.handshaken());
    bad.send_bytes(hostile);
    ASSERT_TRUE(spin(
        r, [&] { return bad.closed(); }, std::chrono::seconds(5)));
    ASSERT_TRUE(spin(r, [&] { return leech.get().complete(); }));
    EXPECT_EQ(seed.get().stats().protocol_violations, 1U);
    EXPECT_TRUE(seed.get().stats().last_violation.ends_with(reason))
        << seed.get().stats().last_violation;
    EXPECT_EQ(leech.get().stats().protocol_violations, 0U);
}

TEST_P(SwarmHostile, EachViolationClosesOnlyThatConnection) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    const std::uint32_t count = m.piece_count();
    // Each case: the bytes, and the reason the seeder must give for closing.
    const std::vector<std::pair<const char*, std::vector<std::uint8_t>>> cases = {
        {"length prefix above the bound",
         [] {
             std::vector<std::uint8_t> b;
             put_u32(b, 1U << 24U);
             b.push_back(7);
             return b;
         }()},
        {"payload length wrong for message id",
         frame(5, std::vector<std::uint8_t>((count + 7) / 8 + 1, 0))},
        {"piece index out of range",
         [&] {
             std::vector<std::uint8_t> p;
             put_u32(p, count);
             return frame(4, p);
         }()},
        {"block runs past the piece",
         [&] {
             std::vector<std::uint8_t> p;
             put_u32(p, 0);
             put_u32(p, static_cast<std::uint32_t>(piece_bytes) - 8192);
             put_u32(p, 16384);
             return frame(6, p);
         }()},
        {"unsolicited piece",
         [] {
             std::vector<std::uint8_t> p;
             put_u32(p, 0);
             put_u32(p, 0);
             p.resize(p.size() + 16384, 0xab);
             return frame(7, p);
         }()},
        {"request flood",
         [&] {
             std::vector<std::uint8_t> all = frame(2, {});  // interested: the seeder unchokes
             for (std::uint32_t i = 0; i < 2000; ++i) {
                 std::vector<std::uint8_t> p;
                 put_u32(p, i % (count - 1));  // full-size pieces only
                 put_u32(p, 0);
                 put_u32(p, 16384);
                 const auto f = frame(6, p);
                 all.insert(all.end(), f.begin(), f.end());
             }
             return all;
         }()},
        {"request flood while choked",
         [&] {
             std::vector<std::uint8_t> all;  // never interested: stays choked
             for (std::uint32_t i = 0; i < 2000; ++i) {
                 std::vector<std::uint8_t> p;
                 put_u32(p, i % (count - 1));
                 put_u32(p, 0);
                 put_u32(p, 16384);
                 const auto f = frame(6, p);
                 all.insert(all.end(), f.begin(), f.end());
             }
             return all;
         }()},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].first);
        const auto sub = dir_.path / ("case" + std::to_string(i));
        session& seed = add(m, dir_.path / "seed");
        seed.start();
        auto o = loopback_options();
        o.peers = {at(seed)};
        session& leech = add(m, sub, o);
        leech.start();
        expect_only_that_connection_closes(*reactor_, seed, leech, m, cases[i].second,
                                           cases[i].first);
        EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", sub / "data.bin"));
        sessions_.clear();
    }
}

TEST_P(SwarmHostile, CorruptPeerIsBannedAndHonestSeederFinishesTheJob) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    session& leech = add(m, dir_.path / "leech");
    leech.start();
    // The corrupt peer claims every piece and answers each request with garbage.
    raw_peer bad(*reactor_, m, io::address::loopback_v4(leech.port()));
    std::uint64_t served = 0;
    bad.on_message = [&](raw_peer& self, const wire::peer_message& msg) {
        if (std::holds_alternative<wire::interested>(msg)) {
            self.send(wire::unchoke{});
        } else if (const auto* rq = std::get_if<wire::request>(&msg)) {
            std::vector<std::uint8_t> junk(rq->block.length,
                                           static_cast<std::uint8_t>(0x5a + served));
            self.send(wire::piece_block{rq->block.piece, rq->block.begin, junk});
            ++served;
        }
    };
    ASSERT_TRUE(spin(*reactor_, [&] { return bad.handshaken() || bad.closed(); }));
    bad.send(wire::have_all{});
    // Alone with the leecher, the bad peer is the only sender of each failed piece.
    ASSERT_TRUE(spin(
        *reactor_, [&] { return bad.closed(); }, std::chrono::seconds(10)));
    EXPECT_TRUE(leech.get().banned(bad.id()));
    auto st = leech.get().stats();
    EXPECT_GT(served, 0U);
    EXPECT_GE(st.hash_failures, leech.get().options().ban_after_failures);
    EXPECT_EQ(st.peers_banned, 1U);
    EXPECT_EQ(st.pieces_have, 0U);
    // The same peer id is refused when it comes back.
    raw_peer again(*reactor_, m, io::address::loopback_v4(leech.port()), true, bad.id());
    ASSERT_TRUE(spin(
        *reactor_, [&] { return again.closed(); }, std::chrono::seconds(10)));
    // The honest seeder then delivers everything.
    leech.get().connect(at(seed));
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_EQ(leech.get().stats().protocol_violations, 0U);
}

TEST_P(SwarmHostile, SmartBanFindsTheCorruptSenderOfASharedPiece) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    auto o = loopback_options();
    o.torrent.ban_after_failures = 1;
    session& leech = add(m, dir_.path / "leech", o);
    leech.start();
    // Rejects (BEP 6) every request for a piece's first block and corrupts the others, so it is
    // never the only sender of a piece: each failed piece mixes its bad blocks with the
    // seeder's good ones and only the per-block digests can tell who lied.
    const std::string original = read_all(dir_.path / "seed" / "data.bin");
    raw_peer bad(*reactor_, m, io::address::loopback_v4(leech.port()));
    bad.on_message = [&](raw_peer& self, const wire::peer_message& msg) {
        if (std::holds_alternative<wire::interested>(msg)) {
            self.send(wire::unchoke{});
        } else if (const auto* rq = std::get_if<wire::request>(&msg)) {
            const std::size_t at_byte = rq->block.piece.get() * piece_bytes + rq->block.begin;
            std::vector<std::uint8_t> data(
                original.begin() + static_cast<std::ptrdiff_t>(at_byte),
                original.begin() + static_cast<std::ptrdiff_t>(at_byte + rq->block.length));
            if (rq->block.begin == 0) {
                self.send(wire::reject_request{rq->block});
                return;
            }
            data[0] ^= 0xffU;
            self.send(wire::piece_block{rq->block.piece, rq->block.begin, data});
        }
    };
    ASSERT_TRUE(spin(*reactor_, [&] { return bad.handshaken() || bad.closed(); }));
    bad.send(wire::have_all{});
    leech.get().connect(at(seed));
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete() && bad.closed(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_TRUE(leech.get().banned(bad.id()));
    EXPECT_EQ(leech.get().stats().peers_banned, 1U);
    EXPECT_GE(leech.get().stats().hash_failures, 1U);
    EXPECT_FALSE(leech.get().banned(seed.get().local_id()));
}

TEST_P(SwarmHostile, LaterBitfieldReplacesTheFirstAsAria2SendsIt) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& leech = add(m, dir_.path / "leech");
    leech.start();
    raw_peer peer(*reactor_, m, io::address::loopback_v4(leech.port()));
    bool interested = false;
    peer.on_message = [&](raw_peer&, const wire::peer_message& msg) {
        interested = interested || std::holds_alternative<wire::interested>(msg);
    };
    ASSERT_TRUE(spin(*reactor_, [&] { return peer.handshaken() || peer.closed(); }));
    peer.send(wire::have_none{});
    peer.send(wire::have_bitfield{bitfield(m.piece_count(), true)});
    ASSERT_TRUE(spin(
        *reactor_, [&] { return interested || peer.closed(); }, std::chrono::seconds(5)));
    EXPECT_TRUE(interested);
    EXPECT_FALSE(peer.closed());
    EXPECT_EQ(leech.get().stats().protocol_violations, 0U);
}

TEST_P(SwarmHostile, EndgameDuplicatesStalledRequestsAndCancelsThem) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    auto o = loopback_options();
    o.torrent.request_timeout = std::chrono::seconds(60);  // only endgame can finish in time
    session& leech = add(m, dir_.path / "leech", o);
    leech.start();
    // The staller claims every piece, unchokes, and never answers a request.
    raw_peer staller(*reactor_, m, io::address::loopback_v4(leech.port()));
    std::size_t requests = 0;
    std::size_t cancels = 0;
    staller.on_message = [&](raw_peer& self, const wire::peer_message& msg) {
        if (std::holds_alternative<wire::interested>(msg)) self.send(wire::unchoke{});
        if (std::holds_alternative<wire::request>(msg)) ++requests;
        if (std::holds_alternative<wire::cancel>(msg)) ++cancels;
    };
    ASSERT_TRUE(spin(*reactor_, [&] { return staller.handshaken() || staller.closed(); }));
    staller.send(wire::have_all{});
    ASSERT_TRUE(spin(
        *reactor_, [&] { return requests > 0; }, std::chrono::seconds(5)));
    leech.get().connect(at(seed));
    ASSERT_TRUE(spin(
        *reactor_, [&] { return leech.get().complete() && cancels > 0; },
        std::chrono::seconds(10)));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_EQ(leech.get().stats().requests_timed_out, 0U);
    EXPECT_GE(leech.get().stats().messages_sent[8], cancels);  // CANCEL is id 8
}

TEST_P(SwarmHostile, ExtensionMessagesThatWereNotNegotiatedCloseTheConnection) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    // No BEP 6 bit in the handshake, then HAVE_NONE; no BEP 10 bit, then an extended message.
    raw_peer no_fast(*reactor_, m, io::address::loopback_v4(seed.port()), false);
    ASSERT_TRUE(spin(*reactor_, [&] { return no_fast.handshaken() || no_fast.closed(); }));
    no_fast.send(wire::have_none{});
    ASSERT_TRUE(spin(
        *reactor_, [&] { return no_fast.closed(); }, std::chrono::seconds(5)));
    EXPECT_EQ(seed.get().stats().last_violation, "fast-extension message without BEP 6 negotiated");
    raw_peer no_ext(*reactor_, m, io::address::loopback_v4(seed.port()));
    ASSERT_TRUE(spin(*reactor_, [&] { return no_ext.handshaken() || no_ext.closed(); }));
    const std::uint8_t payload[] = {'d', 'e'};
    no_ext.send(wire::extended{0, payload});
    ASSERT_TRUE(spin(
        *reactor_, [&] { return no_ext.closed(); }, std::chrono::seconds(5)));
    EXPECT_EQ(seed.get().stats().last_violation, "extended message without BEP 10 negotiated");
    EXPECT_EQ(seed.get().stats().protocol_violations, 2U);
}

TEST_P(SwarmHostile, HandshakeForAnotherTorrentIsRefused) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    metainfo other = m;
    other.hash.bytes[0] ^= 0x01U;
    raw_peer bad(*reactor_, other, io::address::loopback_v4(seed.port()));
    ASSERT_TRUE(spin(
        *reactor_, [&] { return bad.closed(); }, std::chrono::seconds(5)));
    EXPECT_EQ(seed.get().stats().protocol_violations, 1U);
    EXPECT_EQ(seed.get().stats().last_violation, "handshake for another info hash");
    EXPECT_EQ(seed.get().peer_count(), 0U);
}

// aria2 opens with an MSE (encrypted) handshake: 96 bytes of Diffie-Hellman key, never
// "\x13BitTorrent protocol". We refuse it by policy; it is not counted as a violation.
TEST_P(SwarmHostile, EncryptedHandshakeIsRefusedWithoutCountingAViolation) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    raw_peer mse(*reactor_, m, io::address::loopback_v4(seed.port()), true, std::nullopt,
                 raw_peer::opening::silence);
    ASSERT_TRUE(spin(*reactor_, [&] { return seed.get().stats().connections_in == 1U; }));
    std::vector<std::uint8_t> key(96);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0xa5U ^ i);
    mse.send_bytes(key);
    ASSERT_TRUE(spin(
        *reactor_, [&] { return mse.closed(); }, std::chrono::seconds(5)));
    EXPECT_EQ(seed.get().stats().protocol_violations, 0U);
    EXPECT_EQ(seed.get().peer_count(), 0U);
}

TEST_P(SwarmHostile, SilentConnectionIsClosedAfterTheHandshakeTimeout) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    raw_peer quiet(*reactor_, m, io::address::loopback_v4(seed.port()), true, std::nullopt,
                   raw_peer::opening::silence);
    ASSERT_TRUE(spin(
        *reactor_, [&] { return quiet.closed(); }, std::chrono::seconds(5)));
    EXPECT_EQ(seed.get().stats().protocol_violations, 0U);
    EXPECT_EQ(seed.get().stats().connections_in, 1U);
}

INSTANTIATE_TEST_SUITE_P(Backends, SwarmHostile,
                         ::testing::Values(io::backend_kind::epoll, io::backend_kind::uring),
                         backend_name);

}  // namespace
}  // namespace minibit::swarm::testing
