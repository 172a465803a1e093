// The peer engine end to end on loopback: one seeder and three leechers through a real
// in-process minibit tracker (HTTP and UDP) or through given addresses, a peer leaving
// mid-transfer, resume of a partial download, and a connection handed to its torrent after
// its handshake was read (the host agent's router). Both io back ends.
#include <gtest/gtest.h>

#include "minibit/tracker/server.hpp"
#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

constexpr std::size_t file_bytes = (1U << 20U) + 12345;  // last piece short
constexpr std::uint64_t piece_bytes = 32 * 1024;

/// An in-process tracker with a 1 s announce interval.
std::unique_ptr<tracker::tracker_server> start_tracker(io::backend_kind kind) {
    tracker::server_config c;
    c.http = io::address::loopback_v4(0);
    c.udp = io::address::loopback_v4(0);
    c.threads = 1;
    c.backend = kind;
    c.service.interval = std::chrono::seconds(1);
    c.service.min_interval = std::chrono::seconds(1);
    auto s = tracker::tracker_server::start(c, nullptr);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
}

/// One request in flight per peer, so a loopback transfer takes many loop turns.
void slow_pipeline(session_options& o) {
    o.torrent.initial_requests = 1;
    o.torrent.min_requests = 1;
    o.torrent.max_requests = 1;
}

using SwarmTransfer = SwarmTest;

TEST_P(SwarmTransfer, OneSeederThreeLeechersThroughHttpTracker) {
    auto tracker = start_tracker(GetParam());
    ASSERT_TRUE(tracker);
    const std::string url = "http://" + tracker->http_address()->to_string() + "/announce";
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {url});
    add(m, dir_.path / "seed", loopback_options(use_trackers::yes)).start();
    std::vector<session*> leechers;
    for (int i = 0; i < 3; ++i) {
        leechers.push_back(&add(m, dir_.path / ("leech" + std::to_string(i)),
                                loopback_options(use_trackers::yes)));
        leechers.back()->start();
    }
    ASSERT_TRUE(spin(*reactor_, [&] {
        return std::all_of(leechers.begin(), leechers.end(),
                           [](session* s) { return s->get().complete(); });
    }));
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin",
                              dir_.path / ("leech" + std::to_string(i)) / "data.bin"));
        const auto st = leechers[static_cast<std::size_t>(i)]->get().stats();
        EXPECT_EQ(st.pieces_have, m.piece_count());
        EXPECT_EQ(st.hash_failures, 0U);
        EXPECT_EQ(st.protocol_violations, 0U);
        EXPECT_TRUE(st.seconds_to_complete.has_value());
        EXPECT_GE(leechers[static_cast<std::size_t>(i)]->tracker()->successes(), 1U);
    }
    std::uint64_t down = 0;
    for (session* s : leechers) down += s->get().stats().payload_bytes_down;
    EXPECT_GE(down, 3 * file_bytes);  // duplicates in endgame may add a little
}

TEST_P(SwarmTransfer, LeecherFindsSeederThroughUdpTracker) {
    auto tracker = start_tracker(GetParam());
    ASSERT_TRUE(tracker);
    const std::string url = "udp://" + tracker->udp_address()->to_string();
    // BEP 12: a dead first tier is skipped, the UDP tracker in the second tier answers.
    metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {url});
    m.announce_list = {{"udp://127.0.0.1:9"}, {url}};
    add(m, dir_.path / "seed", loopback_options(use_trackers::yes)).start();
    session& leech = add(m, dir_.path / "leech", loopback_options(use_trackers::yes));
    leech.start();
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_GE(leech.tracker()->successes(), 1U);
    EXPECT_GE(leech.tracker()->failures(), 1U);  // the dead udp://127.0.0.1:9 was tried first
}

TEST_P(SwarmTransfer, OneSeederThreeLeechersWithGivenPeerAddresses) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    std::vector<session*> leechers;
    for (int i = 0; i < 3; ++i) {
        auto o = loopback_options();
        o.peers.push_back(at(seed));
        for (session* other : leechers) o.peers.push_back(at(*other));
        leechers.push_back(&add(m, dir_.path / ("leech" + std::to_string(i)), o));
        leechers.back()->start();
    }
    ASSERT_TRUE(spin(*reactor_, [&] {
        return std::all_of(leechers.begin(), leechers.end(),
                           [](session* s) { return s->get().complete(); });
    }));
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin",
                              dir_.path / ("leech" + std::to_string(i)) / "data.bin"));
    }
    const auto st = seed.get().stats();
    EXPECT_GT(st.messages_sent[7], 0U);      // pieces
    EXPECT_GT(st.messages_received[6], 0U);  // requests
    EXPECT_EQ(st.messages_received[4], 0U);  // no HAVE reaches a seeder: it has every piece
    EXPECT_EQ(st.protocol_violations, 0U);
}

// Issue 15: in the 1,000-peer run most connections ended as "both sides are seeds"; a seed
// that keeps dialling the seeds its peer list holds only churns. Once a dial showed a seed,
// a complete torrent does not dial that address again (the given address is redialled every
// 200 ms otherwise).
TEST_P(SwarmTransfer, ASeedDoesNotRedialAnAddressThatShowedASeed) {
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    fs::create_directories(dir_.path / "seed2");
    fs::copy_file(dir_.path / "seed" / "data.bin", dir_.path / "seed2" / "data.bin");
    session& first = add(m, dir_.path / "seed");
    first.start();
    auto o = loopback_options();
    o.peers.push_back(at(first));
    session& second = add(m, dir_.path / "seed2", o);
    second.start();
    ASSERT_TRUE(spin(*reactor_, [&] { return second.get().stats().disconnects >= 1; }));
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    (void)spin(*reactor_, [&] { return std::chrono::steady_clock::now() >= until; });
    EXPECT_EQ(second.get().stats().connections_out, 1U);
    EXPECT_EQ(first.get().stats().connections_in, 1U);
    // The other way round still works: a leecher that dials the second seed gets the file.
    auto lo = loopback_options();
    lo.peers.push_back(at(second));
    session& leech = add(m, dir_.path / "leech", lo);
    leech.start();
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
}

TEST_P(SwarmTransfer, AConnectionHandedOverAfterItsHandshakeWasReadDownloadsTheTorrent) {
    // What a host agent's router does: one listener for all torrents reads the 68-byte
    // handshake of an incoming connection, finds the torrent by its info hash and hands the
    // connection over with the bytes it read (here from inside its data callback).
    const metainfo m = make_torrent(dir_.path, file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    int handed_over = 0;
    auto listener = reactor_->listen(
        io::address::loopback_v4(0), {}, [&](io::connection c, const io::address& from) {
            auto got = std::make_shared<std::vector<std::byte>>();
            auto on_data = [&, c, from, got](std::span<const std::byte> b) {
                got->insert(got->end(), b.begin(), b.end());
                if (got->size() < wire::handshake_bytes) return;
                const auto h = wire::parse_handshake(
                    {reinterpret_cast<const std::uint8_t*>(got->data()), got->size()});
                if (!h || h->hash != m.hash) {
                    reactor_->close(c.id());
                    return;
                }
                ++handed_over;
                seed.get().adopt(c, from, *got);
            };
            EXPECT_TRUE(reactor_->start(c.id(), {on_data, [](const std::optional<error>&) {}}));
        });
    ASSERT_TRUE(listener);
    auto o = loopback_options();
    o.peers = {*reactor_->local_address(*listener)};
    session& leech = add(m, dir_.path / "leech", o);
    leech.start();
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_GE(handed_over, 1);
    EXPECT_EQ(seed.get().stats().connections_in, static_cast<std::uint64_t>(handed_over));
    EXPECT_EQ(seed.get().stats().protocol_violations, 0U);
    reactor_->close_listener(*listener);
}

TEST_P(SwarmTransfer, DownloadCompletesWhenASeederLeavesMidTransfer) {
    const metainfo m = make_torrent(dir_.path, 4 * file_bytes, piece_bytes, {});
    std::filesystem::copy(dir_.path / "seed", dir_.path / "seed2");
    session& a = add(m, dir_.path / "seed");
    session& b = add(m, dir_.path / "seed2");
    a.start();
    b.start();
    auto o = loopback_options();
    o.peers = {at(a), at(b)};
    slow_pipeline(o);
    session& leech = add(m, dir_.path / "leech", o);
    leech.start();
    // Wait until the leecher holds some pieces, then take seeder A away at once.
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().stats().pieces_have >= 4; }));
    ASSERT_FALSE(leech.get().complete()) << "too fast to test a departure";
    sessions_.erase(sessions_.begin());  // destroys A: its connections close mid-stream
    ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed2" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_GE(leech.get().stats().disconnects, 1U);
}

TEST_P(SwarmTransfer, RestartKeepsVerifiedPieces) {
    const metainfo m = make_torrent(dir_.path, 4 * file_bytes, piece_bytes, {});
    session& seed = add(m, dir_.path / "seed");
    seed.start();
    auto o = loopback_options();
    o.peers = {at(seed)};
    slow_pipeline(o);
    std::uint32_t had = 0;
    {
        session& leech = add(m, dir_.path / "leech", o);
        leech.start();
        ASSERT_TRUE(spin(*reactor_, [&] { return leech.get().stats().pieces_have >= 8; }));
        had = leech.get().stats().pieces_have;
        ASSERT_LT(had, m.piece_count()) << "too fast to test a restart";
        bool stopped = false;
        leech.stop([&] { stopped = true; });
        ASSERT_TRUE(spin(*reactor_, [&] { return stopped; }));
        sessions_.pop_back();
    }
    session& again = add(m, dir_.path / "leech", o);
    EXPECT_GE(again.get().stats().pieces_have, had);
    again.start();
    ASSERT_TRUE(spin(*reactor_, [&] { return again.get().complete(); }));
    EXPECT_TRUE(same_file(dir_.path / "seed" / "data.bin", dir_.path / "leech" / "data.bin"));
    EXPECT_LT(again.get().stats().payload_bytes_down, 4 * file_bytes);
}

INSTANTIATE_TEST_SUITE_P(Backends, SwarmTransfer,
                         ::testing::Values(io::backend_kind::epoll, io::backend_kind::uring),
                         backend_name);

}  // namespace
}  // namespace minibit::swarm::testing
