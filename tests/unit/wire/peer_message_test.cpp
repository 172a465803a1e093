#include "minibit/wire/peer_message.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "minibit/wire/peer_decoder.hpp"

namespace minibit::wire {
namespace {

using bytes = std::vector<std::uint8_t>;
constexpr torrent_bounds test_bounds{10, 32768, 1000};

class PeerMessageRoundTrip : public testing::TestWithParam<peer_message> {};

TEST_P(PeerMessageRoundTrip, EncodeThenDecodeGivesTheSameMessage) {
    const peer_message& m = GetParam();
    bytes out(encoded_size(m));
    auto n = encode(m, out);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, out.size());
    peer_decoder d(test_bounds, decoder_start::messages);
    d.feed(out);
    auto got = d.next();
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, m);
    EXPECT_EQ(d.buffered(), 0U);
}

TEST_P(PeerMessageRoundTrip, TheIdByteOnTheWireIsTheMessagesOwnWireId) {
    const peer_message& m = GetParam();
    bytes out(encoded_size(m));
    ASSERT_TRUE(encode(m, out));
    const auto id = id_of(m);
    if (std::holds_alternative<handshake>(m) || std::holds_alternative<keep_alive>(m)) {
        EXPECT_EQ(id, std::nullopt);
        return;
    }
    ASSERT_TRUE(id.has_value());
    ASSERT_GT(out.size(), 4U);
    EXPECT_EQ(out[4], static_cast<std::uint8_t>(*id));
}

bitfield some_bits() {
    bitfield b(10);
    b.set(piece_index{0});
    b.set(piece_index{9});
    return b;
}

INSTANTIATE_TEST_SUITE_P(
    AllFixedMessages, PeerMessageRoundTrip,
    testing::Values(peer_message{keep_alive{}}, peer_message{choke{}}, peer_message{unchoke{}},
                    peer_message{interested{}}, peer_message{not_interested{}},
                    peer_message{have_all{}}, peer_message{have_none{}},
                    peer_message{have{piece_index{9}}}, peer_message{suggest{piece_index{1}}},
                    peer_message{allowed_fast{piece_index{2}}}, peer_message{port{51413}},
                    peer_message{request{{piece_index{3}, 16384, 16384}}},
                    peer_message{cancel{{piece_index{9}, 0, 1000}}},
                    peer_message{reject_request{{piece_index{0}, 0, 1}}},
                    peer_message{have_bitfield{some_bits()}}));

TEST(PeerMessage, HaveEncodesToTheBep3Bytes) {
    bytes out(9);
    ASSERT_TRUE(encode(have{piece_index{0x01020304}}, out));
    EXPECT_EQ(out, (bytes{0, 0, 0, 5, 4, 1, 2, 3, 4}));
}

TEST(PeerMessage, PieceEncodesOnlyTheHeaderWithTheFullLength) {
    const bytes data(100, 0x11);
    const peer_message m = piece_block{piece_index{2}, 16, data};
    EXPECT_EQ(encoded_size(m), piece_header_bytes);
    bytes out(piece_header_bytes);
    ASSERT_TRUE(encode(m, out));
    EXPECT_EQ(out, (bytes{0, 0, 0, 109, 7, 0, 0, 0, 2, 0, 0, 0, 16}));
    bytes out2(piece_header_bytes);
    ASSERT_TRUE(encode_piece_header({piece_index{2}, 16, 100}, out2));
    EXPECT_EQ(out2, out);
}

TEST(PeerMessage, ExtendedCarriesIdAndPayload) {
    const bytes payload{'d', 'e'};
    bytes out(8);
    auto n = encode(extended{0, payload}, out);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 8U);
    EXPECT_EQ(out, (bytes{0, 0, 0, 4, 20, 0, 'd', 'e'}));
}

TEST(PeerMessage, EncodeRefusesASmallBuffer) {
    bytes out(16);
    auto n = encode(request{{piece_index{0}, 0, 1}}, out);
    ASSERT_FALSE(n);
    EXPECT_TRUE(is(n.error(), peer_wire_errc::buffer_too_small));
    EXPECT_EQ(n.error().offset, 16U);
}

TEST(PeerHandshake, RoundTripsWithReservedBits) {
    handshake h;
    h.hash.bytes[0] = 0xab;
    h.id.bytes[19] = 0xcd;
    h.set_fast_extension(true);
    h.set_extension_protocol(true);
    EXPECT_EQ(h.reserved[7], 0x04);
    EXPECT_EQ(h.reserved[5], 0x10);
    bytes out(handshake_bytes);
    ASSERT_TRUE(encode(h, out));
    EXPECT_EQ(out[0], 19);
    EXPECT_EQ(out[1], 'B');
    auto back = parse_handshake(out);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, h);
    EXPECT_TRUE(back->fast_extension());
    EXPECT_TRUE(back->extension_protocol());
    h.set_fast_extension(false);
    EXPECT_FALSE(h.fast_extension());
    EXPECT_TRUE(h.extension_protocol());
}

TEST(PeerHandshake, ShortInputIsTruncatedAtItsLength) {
    const bytes in{19, 'B', 'i'};
    auto h = parse_handshake(in);
    ASSERT_FALSE(h);
    EXPECT_TRUE(is(h.error(), peer_wire_errc::truncated));
    EXPECT_EQ(h.error().offset, 3U);
}

}  // namespace
}  // namespace minibit::wire
