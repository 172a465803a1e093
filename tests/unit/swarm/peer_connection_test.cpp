// peer_connection's state machine through the torrent seam: a test_host stands in for the
// torrent, a real epoll reactor carries one loopback connection, and the test plays the far
// peer on a plain socket: it writes protocol bytes and asserts on the messages the connection
// sends back and on what it tells its host.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "minibit/wire/peer_extension.hpp"
#include "test_peer_host.hpp"

namespace minibit::swarm::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kib16 = block_size_bytes;

wire::block_ref blk(std::uint32_t piece, std::uint32_t block) {
    return {piece_index{piece}, block * kib16, kib16};
}

class PeerConnection : public ::testing::Test {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::off);
        auto r = io::make_reactor(io::backend_kind::epoll, {});
        ASSERT_TRUE(r) << r.error().message();
        reactor_ = std::move(*r);
        far_id_.bytes.fill('f');
        hash_ = test_metainfo().hash;
    }
    void TearDown() override {
        if (peer_ && !peer_->closing()) peer_->close(close_reason::shutdown, "test over");
        pump_until([&] { return host_ == nullptr || host_->closed > 0; });
        peer_.reset();
        far_.reset();
        host_.reset();
    }

    /// A host (seed or leecher) and one accepted connection to it from a far end, started
    /// with the bytes `already` read from it.
    void open(bool seed, std::span<const std::byte> already = {}) {
        host_ = std::make_unique<test_host>(*reactor_, seed);
        std::optional<io::connection> accepted;
        auto listener = reactor_->listen(
            io::address::loopback_v4(0), {},
            [&](io::connection c, const io::address&) { accepted = c; });
        ASSERT_TRUE(listener);
        const auto where = reactor_->local_address(*listener);
        ASSERT_TRUE(where);
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(where->port());
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin), 0);
        far_ = std::make_unique<far_end>(fd, host_->bounds());
        pump_until([&] { return accepted.has_value(); });
        ASSERT_TRUE(accepted);
        reactor_->close_listener(*listener);
        peer_ = std::make_shared<peer_connection>(*host_, host_->context(), *accepted, *where,
                                                  peer_slot{7}, peer_direction::incoming);
        peer_->start(already);
    }
    /// Runs the reactor and reads the far end until `done()` holds (at most 2 s).
    template <class Pred>
    bool pump_until(Pred done) {
        const auto deadline = std::chrono::steady_clock::now() + 2s;
        for (int i = 0; i < 20000 && !done(); ++i) {
            if (std::chrono::steady_clock::now() > deadline) break;
            EXPECT_TRUE(reactor_->run_once(1ms));
            if (far_) far_->read_available();
        }
        return done();
    }
    /// Waits until the far end has `n` messages and returns them.
    std::vector<std::string> lines(std::size_t n) {
        pump_until([&] { return far_->lines.size() >= n; });
        return far_->lines;
    }
    /// The far end's handshake.
    wire::handshake far_handshake(bool fast, bool extended = false) const {
        wire::handshake h;
        h.hash = hash_;
        h.id = far_id_;
        h.set_fast_extension(fast);
        h.set_extension_protocol(extended);
        return h;
    }
    /// Handshakes from the far end and waits until the connection is ready.
    void handshake(bool fast, bool extended = false) {
        far_->send(far_handshake(fast, extended));
        ASSERT_TRUE(pump_until([&] { return peer_->ready(); }));
    }
    /// Leecher host lining up `blocks`; the far end, a peer holding everything, unchokes it.
    void unchoked_by_a_seed(bool fast, std::vector<wire::block_ref> blocks) {
        open(false);
        host_->to_request = std::move(blocks);
        handshake(fast);
        far_->send(fast ? wire::peer_message{wire::have_all{}}
                        : wire::peer_message{wire::have_bitfield{bitfield(test_pieces, true)}});
        far_->send(wire::unchoke{});
    }
    /// Waits until the connection sent `n` requests and returns the request lines.
    std::vector<std::string> requests(std::size_t n) {
        auto only_requests = [&] {
            std::vector<std::string> out;
            std::copy_if(far_->lines.begin(), far_->lines.end(), std::back_inserter(out),
                         [](const std::string& l) { return l.starts_with("request "); });
            return out;
        };
        pump_until([&] { return only_requests().size() >= n; });
        return only_requests();
    }
    std::uint64_t received(wire::message_id id) const {
        return host_->counters.messages_received[static_cast<std::size_t>(id)];
    }

    std::unique_ptr<io::reactor> reactor_;
    std::unique_ptr<test_host> host_;
    std::unique_ptr<far_end> far_;
    std::shared_ptr<peer_connection> peer_;
    wire::peer_id far_id_;
    info_hash hash_;
};

TEST_F(PeerConnection, SendsItsHandshakeAtOnceAndTheBitfieldAfterThePeersHandshake) {
    open(false);
    host_->set_have(piece_index{0});
    host_->set_have(piece_index{2});
    EXPECT_EQ(lines(1), (std::vector<std::string>{"handshake"}));
    handshake(false);
    EXPECT_EQ(lines(2), (std::vector<std::string>{"handshake", "bitfield 1010"}));
    ASSERT_EQ(host_->handshakes.size(), 1U);
    EXPECT_EQ(host_->handshakes[0], far_id_);
    EXPECT_EQ(peer_->id(), far_id_);
}

TEST_F(PeerConnection, ASeedAnnouncesHaveAllAndAnEmptyPeerHaveNoneWithTheFastExtension) {
    open(true);
    handshake(true);
    EXPECT_EQ(lines(2).back(), "have_all");
    TearDown();
    open(false);
    handshake(true);
    EXPECT_EQ(lines(2).back(), "have_none");
}

TEST_F(PeerConnection, SendsTheExtensionHandshakeFirstWhenThePeerSpeaksBep10) {
    open(true);
    handshake(true, true);
    EXPECT_EQ(lines(3), (std::vector<std::string>{"handshake", "extended 0", "have_all"}));
}

TEST_F(PeerConnection, AHandshakeForAnotherTorrentIsAViolationThatClosesTheConnection) {
    open(false);
    auto h = far_handshake(true);
    h.hash = sha1(std::string_view("another torrent"));
    far_->send(h);
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1 && far_->ended; }));
    EXPECT_EQ(host_->counters.protocol_violations, 1U);
    EXPECT_EQ(host_->counters.last_violation, "handshake for another info hash");
    EXPECT_TRUE(host_->handshakes.empty());
}

TEST_F(PeerConnection, AHandshakeTheHostRefusesClosesWithoutAViolation) {
    open(false);
    host_->accept = false;
    far_->send(far_handshake(true));
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1; }));
    EXPECT_EQ(host_->counters.protocol_violations, 0U);
    EXPECT_FALSE(peer_->ready());
}

TEST_F(PeerConnection, BecomesInterestedInAPeerWithPiecesItLacks) {
    open(false);
    host_->set_have(piece_index{0});
    handshake(false);
    bitfield theirs(test_pieces);
    theirs.set(piece_index{0});
    far_->send(wire::have_bitfield{theirs});
    ASSERT_TRUE(pump_until([&] { return host_->bitfields.size() == 1; }));
    EXPECT_EQ(lines(2).size(), 2U);  // nothing new: piece 0 is ours already
    far_->send(wire::have{piece_index{3}});
    EXPECT_EQ(lines(3).back(), "interested");
    EXPECT_EQ(host_->haves, (std::vector<piece_index>{piece_index{3}}));
}

TEST_F(PeerConnection, ASecondBitfieldReplacesTheFirst) {
    open(false);
    handshake(true);
    far_->send(wire::have_none{});
    far_->send(wire::have{piece_index{1}});
    far_->send(wire::have_all{});
    ASSERT_TRUE(pump_until([&] { return host_->bitfields.size() == 2; }));
    EXPECT_EQ(host_->replaced, (std::vector<bool>{false, true}));
    EXPECT_TRUE(peer_->is_seed());
}

TEST_F(PeerConnection, PipelinesInitialRequestsOnceUnchokedAndStopsWhenTheHostRunsDry) {
    unchoked_by_a_seed(true, {blk(2, 0), blk(2, 1), blk(0, 0)});
    EXPECT_EQ(requests(3), (std::vector<std::string>{"request 2:0+16384", "request 2:16384+16384",
                                                     "request 0:0+16384"}));
    ASSERT_FALSE(host_->asked.empty());
    EXPECT_EQ(host_->asked.front(), host_->options.initial_requests);
    EXPECT_TRUE(std::find(far_->lines.begin(), far_->lines.end(), "interested") <
                std::find(far_->lines.begin(), far_->lines.end(), "request 2:0+16384"));
}

TEST_F(PeerConnection, ThePeersReqqCapsThePipeline) {
    open(false);
    handshake(true, true);
    wire::extension_handshake theirs;
    theirs.reqq = 2;
    const std::string payload = wire::encode_extension_handshake(theirs);
    far_->send(
        wire::extended{0, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}});
    far_->send(wire::have_all{});
    far_->send(wire::unchoke{});
    ASSERT_TRUE(pump_until([&] { return !host_->asked.empty(); }));
    EXPECT_EQ(host_->asked.back(), 2U);
}

TEST_F(PeerConnection, APieceWeAskedForReachesTheHostWithItsBytes) {
    unchoked_by_a_seed(true, {blk(1, 1)});
    ASSERT_EQ(requests(1).size(), 1U);
    const auto content = test_content();
    const std::span<const std::uint8_t> data(content.data() + test_piece_bytes + kib16, kib16);
    far_->send(wire::piece_block{piece_index{1}, kib16, data});
    ASSERT_TRUE(pump_until([&] { return host_->blocks.size() == 1; }));
    EXPECT_EQ(host_->blocks[0], blk(1, 1));
    EXPECT_TRUE(std::ranges::equal(host_->block_data[0], data));
    EXPECT_EQ(host_->counters.protocol_violations, 0U);
}

TEST_F(PeerConnection, AnUnsolicitedPieceIsAViolation) {
    unchoked_by_a_seed(true, {});
    const auto content = test_content();
    far_->send(wire::piece_block{piece_index{0}, 0, std::span(content.data(), kib16)});
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1; }));
    EXPECT_EQ(host_->counters.last_violation, "unsolicited piece");
    EXPECT_TRUE(host_->blocks.empty());
}

TEST_F(PeerConnection, AChokeWithoutTheFastExtensionDropsEveryOutstandingRequest) {
    unchoked_by_a_seed(false, {blk(0, 0), blk(0, 1)});
    ASSERT_EQ(requests(2).size(), 2U);
    far_->send(wire::choke{});
    ASSERT_TRUE(pump_until([&] { return host_->dropped.size() == 2; }));
    EXPECT_EQ(host_->dropped, (std::vector<wire::block_ref>{blk(0, 0), blk(0, 1)}));
}

TEST_F(PeerConnection, WithTheFastExtensionOnlyARejectFreesARequest) {
    unchoked_by_a_seed(true, {blk(0, 0), blk(0, 1)});
    ASSERT_EQ(requests(2).size(), 2U);
    far_->send(wire::choke{});
    far_->send(wire::reject_request{blk(0, 1)});
    ASSERT_TRUE(pump_until([&] { return !host_->dropped.empty(); }));
    EXPECT_EQ(host_->dropped, (std::vector<wire::block_ref>{blk(0, 1)}));
}

TEST_F(PeerConnection, RequestsThatTimeOutGoBackToTheHostAndSnubThePeer) {
    unchoked_by_a_seed(true, {blk(3, 0), blk(3, 1)});
    ASSERT_EQ(requests(2).size(), 2U);
    EXPECT_FALSE(peer_->snubbed());
    // The default timeout adapts; before the peer's first block it is initial_request_timeout.
    peer_->on_tick(reactor_->now() + initial_request_timeout - 1s);
    EXPECT_TRUE(host_->dropped.empty());
    peer_->on_tick(reactor_->now() + initial_request_timeout + 1s);
    EXPECT_EQ(host_->dropped, (std::vector<wire::block_ref>{blk(3, 0), blk(3, 1)}));
    EXPECT_EQ(host_->counters.requests_timed_out, 2U);
    EXPECT_TRUE(peer_->snubbed());
}

// Issue 15: under CPU load a peer answers its queue of our requests slower than the timeout;
// while its blocks keep coming it keeps its requests and is not snubbed. Once it sends nothing
// for a whole timeout it loses them all; the connection stays.
TEST_F(PeerConnection, APeerThatAnswersSlowlyButSteadilyKeepsItsRequestsAndASilentOneLosesThem) {
    unchoked_by_a_seed(true, {blk(3, 0), blk(3, 1), blk(2, 0)});
    host_->options.request_timeout = 2s;
    ASSERT_EQ(requests(3).size(), 3U);
    const auto asked = reactor_->now();
    // The first block comes 300 ms after the requests (real time: the arrival is stamped by
    // the reactor's clock), so the others have waited longer than the last block.
    pump_until([&] { return reactor_->now() - asked >= 300ms; });
    const auto content = test_content();
    far_->send(wire::piece_block{
        piece_index{3}, 0, std::span(content.data() + std::size_t{3} * test_piece_bytes, kib16)});
    ASSERT_TRUE(pump_until([&] { return host_->blocks.size() == 1; }));
    const auto delivered = reactor_->now();
    // The oldest request has waited over 2 s, the last block came 1.9 s ago: no timeout.
    peer_->on_tick(delivered + 1900ms);
    EXPECT_TRUE(host_->dropped.empty());
    EXPECT_FALSE(peer_->snubbed());
    EXPECT_EQ(host_->counters.requests_timed_out, 0U);
    // Nothing more for a whole timeout: both remaining requests go, the peer is snubbed.
    peer_->on_tick(delivered + 2100ms);
    EXPECT_EQ(host_->dropped, (std::vector<wire::block_ref>{blk(3, 1), blk(2, 0)}));
    EXPECT_EQ(host_->counters.requests_timed_out, 2U);
    EXPECT_TRUE(peer_->snubbed());
    EXPECT_FALSE(peer_->closing());
}

TEST_F(PeerConnection, BlocksThatTimedOutAreNotAskedOfTheSamePeerAgainForAWhile) {
    unchoked_by_a_seed(true, {blk(3, 0), blk(3, 1)});
    ASSERT_EQ(requests(2).size(), 2U);
    const auto timed_out = reactor_->now() + initial_request_timeout + 1s;
    peer_->on_tick(timed_out);
    ASSERT_EQ(host_->dropped.size(), 2U);
    // The next ask (this tick's refill) tells the host to skip them, for two timeouts (their
    // end: RequestQueue.ExpiredRequestsAreAvoidedUntilTheirCoolOffEnds).
    EXPECT_EQ(host_->avoided, (std::vector<wire::block_ref>{blk(3, 0), blk(3, 1)}));
    host_->avoided.clear();
    peer_->on_tick(timed_out + 1s);
    EXPECT_EQ(host_->avoided, (std::vector<wire::block_ref>{blk(3, 0), blk(3, 1)}));
}

TEST_F(PeerConnection, FastMessagesWithoutTheFastExtensionAreAViolation) {
    open(false);
    handshake(false);
    far_->send(wire::have_all{});
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1; }));
    EXPECT_EQ(host_->counters.last_violation, "fast-extension message without BEP 6 negotiated");
    EXPECT_TRUE(host_->bitfields.empty());
}

TEST_F(PeerConnection, ServesARequestedBlockFromTheStoreOnceUnchoked) {
    open(true);
    host_->unchoke_when_interested = true;
    handshake(true);
    far_->send(wire::interested{});
    far_->send(wire::request{blk(2, 1)});
    ASSERT_TRUE(pump_until([&] { return far_->piece_data.size() == 1; }));
    EXPECT_EQ(host_->interested, 1);
    EXPECT_EQ(far_->lines, (std::vector<std::string>{"handshake", "have_all", "unchoke",
                                                     "piece 2:16384+16384"}));
    const auto content = test_content();
    EXPECT_TRUE(std::ranges::equal(
        far_->piece_data[0], std::span(content.data() + 2 * test_piece_bytes + kib16, kib16)));
    EXPECT_EQ(host_->counters.payload_bytes_up, kib16);
}

TEST_F(PeerConnection, TellsTheHostOnceWhenThePeerLosesInterest) {
    open(true);
    host_->unchoke_when_interested = true;
    handshake(true);
    far_->send(wire::interested{});
    far_->send(wire::interested{});  // no change: not reported again
    far_->send(wire::not_interested{});
    far_->send(wire::not_interested{});
    ASSERT_TRUE(pump_until([&] { return received(wire::message_id::not_interested) == 2; }));
    EXPECT_EQ(host_->interested, 1);
    EXPECT_EQ(host_->not_interested, 1);
    EXPECT_FALSE(peer_->peer_interested());
}

TEST_F(PeerConnection, AChokedPeersRequestsAreRejectedWithTheFastExtension) {
    open(true);
    handshake(true);
    far_->send(wire::request{blk(0, 0)});
    EXPECT_EQ(lines(3).back(), "reject 0:0+16384");
    EXPECT_TRUE(far_->piece_data.empty());
}

TEST_F(PeerConnection, ChokingRejectsTheRequestsStillQueued) {
    open(true);
    host_->options.max_send_queue_bytes = 0;  // serve nothing: requests stay queued
    host_->unchoke_when_interested = true;
    handshake(true);
    far_->send(wire::interested{});
    far_->send(wire::request{blk(1, 0)});
    far_->send(wire::request{blk(1, 1)});
    ASSERT_TRUE(pump_until([&] { return received(wire::message_id::request) == 2; }));
    peer_->set_choking(true);
    const auto got = lines(6);
    EXPECT_EQ(std::vector<std::string>(got.begin() + 3, got.end()),
              (std::vector<std::string>{"choke", "reject 1:0+16384", "reject 1:16384+16384"}));
}

TEST_F(PeerConnection, ARequestForAPieceWeLackIsAViolation) {
    open(false);
    handshake(true);
    far_->send(wire::request{blk(0, 0)});
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1; }));
    EXPECT_EQ(host_->counters.last_violation, "request for a piece we do not have");
}

TEST_F(PeerConnection, StartsWithBytesAlreadyReadByWhoeverHandedItOver) {
    // A router read the handshake and the start of the bitfield to find the torrent; the rest
    // of the bitfield comes over the socket.
    std::vector<std::uint8_t> stream = far_end::bytes_of(far_handshake(false));
    bitfield theirs(test_pieces);
    theirs.set(piece_index{3});
    const auto bits = far_end::bytes_of(wire::have_bitfield{theirs});
    stream.insert(stream.end(), bits.begin(), bits.begin() + 2);
    const std::vector<std::byte> already(
        reinterpret_cast<const std::byte*>(stream.data()),
        reinterpret_cast<const std::byte*>(stream.data()) + stream.size());
    open(false, already);
    EXPECT_TRUE(peer_->ready());
    ASSERT_EQ(host_->handshakes.size(), 1U);
    far_->write({bits.begin() + 2, bits.end()});
    EXPECT_EQ(lines(2), (std::vector<std::string>{"handshake", "interested"}));
    ASSERT_EQ(host_->bitfields.size(), 1U);
    EXPECT_EQ(host_->bitfields[0], theirs);
}

TEST_F(PeerConnection, SendsAKeepAliveAfterSilenceAndClosesAPeerSilentTooLong) {
    open(false);
    handshake(false);
    const auto start = reactor_->now();
    peer_->on_tick(start + host_->options.keepalive_interval + 1s);
    EXPECT_EQ(lines(2).back(), "keep_alive");
    EXPECT_EQ(host_->counters.keepalives_sent, 1U);
    peer_->on_tick(start + host_->options.idle_timeout + 1s);
    ASSERT_TRUE(pump_until([&] { return host_->closed == 1; }));
    EXPECT_EQ(host_->counters.protocol_violations, 0U);
}

TEST_F(PeerConnection, CountsMessagesByTheirWireIds) {
    open(true);
    handshake(true);
    far_->send(wire::interested{});
    far_->send(wire::keep_alive{});
    ASSERT_TRUE(pump_until([&] { return host_->counters.keepalives_received == 1; }));
    const auto& c = host_->counters;
    EXPECT_EQ(c.messages_received[static_cast<std::size_t>(wire::message_id::interested)], 1U);
    EXPECT_EQ(c.messages_sent[static_cast<std::size_t>(wire::message_id::have_all)], 1U);
}

}  // namespace
}  // namespace minibit::swarm::testing
