#include "minibit/wire/peer_decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace minibit::wire {
namespace {

using bytes = std::vector<std::uint8_t>;

// 10 pieces of 32 KiB, the last one 1000 bytes.
constexpr torrent_bounds test_bounds{10, 32768, 1000};

bytes u32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24U), static_cast<std::uint8_t>(v >> 16U),
            static_cast<std::uint8_t>(v >> 8U), static_cast<std::uint8_t>(v)};
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

bytes msg(std::uint8_t id, const bytes& payload) {
    return cat({u32(static_cast<std::uint32_t>(payload.size() + 1)), {id}, payload});
}

bytes block_msg(std::uint8_t id, std::uint32_t piece, std::uint32_t begin, std::uint32_t len) {
    return msg(id, cat({u32(piece), u32(begin), u32(len)}));
}

std::string describe_block(const char* name, const block_ref& b) {
    return std::string(name) + " " + std::to_string(b.piece.get()) + " " + std::to_string(b.begin) +
           " " + std::to_string(b.length);
}

std::string describe(const peer_message& m) {
    struct visitor {
        std::string operator()(const handshake& h) const {
            return "handshake " + std::to_string(h.hash.bytes[0]) + " " +
                   std::to_string(h.id.bytes[0]);
        }
        std::string operator()(const keep_alive&) const { return "keep_alive"; }
        std::string operator()(const choke&) const { return "choke"; }
        std::string operator()(const unchoke&) const { return "unchoke"; }
        std::string operator()(const interested&) const { return "interested"; }
        std::string operator()(const not_interested&) const { return "not_interested"; }
        std::string operator()(const have_all&) const { return "have_all"; }
        std::string operator()(const have_none&) const { return "have_none"; }
        std::string operator()(const have& x) const {
            return "have " + std::to_string(x.piece.get());
        }
        std::string operator()(const suggest& x) const {
            return "suggest " + std::to_string(x.piece.get());
        }
        std::string operator()(const allowed_fast& x) const {
            return "allowed_fast " + std::to_string(x.piece.get());
        }
        std::string operator()(const port& x) const { return "port " + std::to_string(x.value); }
        std::string operator()(const request& x) const {
            return describe_block("request", x.block);
        }
        std::string operator()(const cancel& x) const { return describe_block("cancel", x.block); }
        std::string operator()(const reject_request& x) const {
            return describe_block("reject", x.block);
        }
        std::string operator()(const have_bitfield& x) const {
            std::string s = "bitfield ";
            for (std::uint32_t i = 0; i < x.bits.size(); ++i) {
                s += x.bits.test(piece_index{i}) ? '1' : '0';
            }
            return s;
        }
        std::string operator()(const piece_block& x) const {
            return "piece " + std::to_string(x.piece.get()) + " " + std::to_string(x.begin) + " " +
                   std::string(x.data.begin(), x.data.end());
        }
        std::string operator()(const extended& x) const {
            return "extended " + std::to_string(x.ext_id) + " " +
                   std::string(x.payload.begin(), x.payload.end());
        }
    };
    return std::visit(visitor{}, m);
}

struct outcome {
    std::string messages;  ///< descriptions joined by "; "
    std::optional<error> err;
};

/// Drains every complete message (bounded), describing each as it comes.
void drain(peer_decoder& d, outcome& out) {
    for (int i = 0; i < 1000 && !out.err; ++i) {
        auto m = d.next();
        if (!m) {
            out.err = m.error();
            return;
        }
        if (!*m) {
            return;
        }
        out.messages += (out.messages.empty() ? "" : "; ") + describe(**m);
    }
}

outcome decode_whole(const bytes& in, decoder_start start = decoder_start::messages) {
    peer_decoder d(test_bounds, start);
    outcome out;
    d.feed(in);
    drain(d, out);
    return out;
}

outcome decode_byte_by_byte(const bytes& in, decoder_start start = decoder_start::messages) {
    peer_decoder d(test_bounds, start);
    outcome out;
    for (std::size_t i = 0; i < in.size() && !out.err; ++i) {
        d.feed(std::span(in).subspan(i, 1));
        drain(d, out);
    }
    return out;
}

/// decode() in chunks of `chunk` bytes, each from one reused buffer scribbled over after the
/// call: the decoder must keep what it needs and never read the caller's bytes later.
outcome decode_in_chunks(const bytes& in, std::size_t chunk,
                         decoder_start start = decoder_start::messages) {
    peer_decoder d(test_bounds, start);
    outcome out;
    bytes buffer;
    for (std::size_t i = 0; i < in.size() && !out.err; i += chunk) {
        const auto part = std::span(in).subspan(i, std::min(chunk, in.size() - i));
        buffer.assign(part.begin(), part.end());
        auto ok = d.decode(buffer, [&out](const peer_message& m) {
            out.messages += (out.messages.empty() ? "" : "; ") + describe(m);
            return true;
        });
        if (!ok) {
            out.err = ok.error();
        }
        std::fill(buffer.begin(), buffer.end(), std::uint8_t{0xee});
    }
    return out;
}

struct decode_case {
    const char* name;
    bytes input;
    const char* expected;  ///< messages decoded before the end or the error
    std::optional<peer_wire_errc> errc;
    std::size_t offset = 0;
};

class PeerDecoderTable : public testing::TestWithParam<decode_case> {};

TEST_P(PeerDecoderTable, DecodesWholeAndByteByByteAlike) {
    const auto& c = GetParam();
    for (const auto& got : {decode_whole(c.input), decode_byte_by_byte(c.input),
                            decode_in_chunks(c.input, 1), decode_in_chunks(c.input, 3),
                            decode_in_chunks(c.input, 7), decode_in_chunks(c.input, 1 << 20)}) {
        EXPECT_EQ(got.messages, c.expected);
        if (c.errc) {
            ASSERT_TRUE(got.err.has_value());
            EXPECT_TRUE(is(*got.err, *c.errc)) << got.err->message();
            EXPECT_EQ(got.err->offset, c.offset) << got.err->message();
        } else {
            EXPECT_FALSE(got.err.has_value()) << got.err->message();
        }
    }
}

const bytes abc{'a', 'b', 'c'};
using E = peer_wire_errc;

INSTANTIATE_TEST_SUITE_P(
    Good, PeerDecoderTable,
    testing::Values(
        decode_case{"KeepAlive", u32(0), "keep_alive", {}},
        decode_case{"IdOnly",
                    cat({msg(0, {}), msg(1, {}), msg(2, {}), msg(3, {}), msg(14, {}), msg(15, {})}),
                    "choke; unchoke; interested; not_interested; have_all; have_none",
                    {}},
        decode_case{"Have", msg(4, u32(9)), "have 9", {}},
        decode_case{"SuggestAllowedFast",
                    cat({msg(13, u32(2)), msg(17, u32(3))}),
                    "suggest 2; allowed_fast 3",
                    {}},
        decode_case{"Bitfield", msg(5, {0xa0, 0x40}), "bitfield 1010000001", {}},
        decode_case{"RequestLastPieceWhole", block_msg(6, 9, 0, 1000), "request 9 0 1000", {}},
        decode_case{
            "RequestSecondBlock", block_msg(6, 0, 16384, 16384), "request 0 16384 16384", {}},
        decode_case{"CancelReject",
                    cat({block_msg(8, 1, 0, 16), block_msg(16, 2, 32, 64)}),
                    "cancel 1 0 16; reject 2 32 64",
                    {}},
        decode_case{"Piece", msg(7, cat({u32(1), u32(5), abc})), "piece 1 5 abc", {}},
        decode_case{"Port", msg(9, {0x1a, 0xe1}), "port 6881", {}},
        decode_case{"Extended", msg(20, {3, 'x', 'y'}), "extended 3 xy", {}},
        decode_case{"PartialMessageWaits", bytes{0, 0, 0, 5, 4, 0}, "", {}}),
    [](const auto& tp) { return std::string(tp.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Bad, PeerDecoderTable,
    testing::Values(
        decode_case{"LengthAboveBound", u32(65536), "", E::message_too_long, 0},
        decode_case{"UnknownId", msg(10, {}), "", E::unknown_message_id, 4},
        decode_case{"ChokeWithPayload", msg(0, {0}), "", E::wrong_payload_length, 0},
        decode_case{"HaveTooLong", msg(4, {0, 0, 0, 1, 0}), "", E::wrong_payload_length, 0},
        decode_case{"HavePieceOutOfRange", msg(4, u32(10)), "", E::piece_out_of_range, 5},
        decode_case{"ErrorOffsetCountsEarlierMessages", cat({u32(0), msg(4, u32(10))}),
                    "keep_alive", E::piece_out_of_range, 9},
        decode_case{"RequestZeroLength", block_msg(6, 0, 0, 0), "", E::bad_block_length, 13},
        decode_case{"RequestAbove16KiB", block_msg(6, 0, 0, 16385), "", E::bad_block_length, 13},
        decode_case{"RequestPastLastPiece", block_msg(6, 9, 1, 1000), "", E::block_out_of_range, 9},
        decode_case{"RequestBeginOverflow", block_msg(6, 0, 0xffffffffU, 16384), "",
                    E::block_out_of_range, 9},
        decode_case{"CancelPieceOutOfRange", block_msg(8, 11, 0, 1), "", E::piece_out_of_range, 5},
        decode_case{"PieceWithoutData", msg(7, cat({u32(1), u32(0)})), "", E::wrong_payload_length,
                    0},
        decode_case{"PiecePastEnd", msg(7, cat({u32(9), u32(998), abc})), "", E::block_out_of_range,
                    9},
        decode_case{"BitfieldWrongLength", msg(5, {0xff}), "", E::wrong_payload_length, 0},
        decode_case{"BitfieldSpareBits", msg(5, {0xff, 0xe0}), "", E::bad_bitfield, 5},
        decode_case{"ExtendedWithoutId", msg(20, {}), "", E::wrong_payload_length, 0},
        decode_case{"PortTooShort", msg(9, {1}), "", E::wrong_payload_length, 0}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(PeerDecoder, RefusesOversizedPieceFromItsHeaderAlone) {
    peer_decoder d(test_bounds, decoder_start::messages);
    d.feed(cat({u32(9 + block_size_bytes + 1), {7}}));
    auto m = d.next();
    ASSERT_FALSE(m);
    EXPECT_TRUE(is(m.error(), peer_wire_errc::wrong_payload_length));
    EXPECT_EQ(d.buffered(), 5U);
}

TEST(PeerDecoder, ErrorIsStickyAfterMoreInput) {
    peer_decoder d(test_bounds, decoder_start::messages);
    d.feed(msg(10, {}));
    ASSERT_FALSE(d.next());
    d.feed(u32(0));
    auto m = d.next();
    ASSERT_FALSE(m);
    EXPECT_TRUE(is(m.error(), peer_wire_errc::unknown_message_id));
}

TEST(PeerDecoder, BitfieldBoundGrowsWithPieceCount) {
    const torrent_bounds big{200000, 16384, 16384};
    peer_decoder d(big, decoder_start::messages);
    EXPECT_EQ(d.max_length(), 25001U);
    d.feed(msg(5, bytes(25000, 0xff)));
    auto m = d.next();
    ASSERT_TRUE(m) << m.error().message();
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ(std::get<have_bitfield>(**m).bits.count(), 200000U);
}

TEST(PeerDecoder, PieceDataIsASpanIntoTheBuffer) {
    peer_decoder d(test_bounds, decoder_start::messages);
    const bytes in = msg(7, cat({u32(0), u32(0), bytes(block_size_bytes, 0x5a)}));
    d.feed(in);
    auto m = d.next();
    ASSERT_TRUE(m && m->has_value());
    const auto& p = std::get<piece_block>(**m);
    EXPECT_EQ(p.data.size(), block_size_bytes);
    EXPECT_EQ(p.data[block_size_bytes - 1], 0x5a);
}

TEST(PeerDecoder, DecodeParsesAWholeBlockInPlaceAndCopiesOnlyASplitOne) {
    const bytes one = msg(7, cat({u32(0), u32(0), bytes(block_size_bytes, 0x5a)}));
    const bytes in = cat({one, one, msg(1, {})});
    peer_decoder d(test_bounds, decoder_start::messages);
    std::vector<const std::uint8_t*> data;
    const auto collect = [&data](const peer_message& m) {
        if (const auto* p = std::get_if<piece_block>(&m)) {
            EXPECT_EQ(p->data.size(), block_size_bytes);
            EXPECT_EQ(p->data.front(), 0x5a);
            EXPECT_EQ(p->data.back(), 0x5a);
            data.push_back(p->data.data());
        }
        return true;
    };
    // The first block whole in the first buffer, the second split across both.
    const std::size_t cut = one.size() + 100;
    const bytes first(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(cut));
    const bytes second(in.begin() + static_cast<std::ptrdiff_t>(cut), in.end());
    ASSERT_TRUE(d.decode(first, collect));
    ASSERT_EQ(data.size(), 1U);
    EXPECT_EQ(data[0], first.data() + 13);  // in place: no copy
    EXPECT_EQ(d.buffered(), 100U);
    ASSERT_TRUE(d.decode(second, collect));
    ASSERT_EQ(data.size(), 2U);
    EXPECT_EQ(d.buffered(), 0U);
    // A callback that returns false stops decoding there.
    peer_decoder stop(test_bounds, decoder_start::messages);
    int seen = 0;
    ASSERT_TRUE(stop.decode(in, [&seen](const peer_message&) { return ++seen < 1; }));
    EXPECT_EQ(seen, 1);
}

TEST(PeerDecoder, ReleasesTheBufferOfASplitBlockOnceItIsDecoded) {
    const bytes block = msg(7, cat({u32(0), u32(0), bytes(block_size_bytes, 0x5a)}));
    const bytes have = msg(4, u32(3));
    peer_decoder d(test_bounds, decoder_start::messages);
    int blocks = 0;
    int haves = 0;
    const auto count = [&blocks, &haves](const peer_message& m) {
        blocks += std::holds_alternative<piece_block>(m) ? 1 : 0;
        haves += std::holds_alternative<wire::have>(m) ? 1 : 0;
        return true;
    };
    // A burst: block after block, each cut in the middle, as reads of any size cut them.
    for (int i = 0; i < 4; ++i) {
        const auto half = static_cast<std::ptrdiff_t>(block.size() / 2);
        ASSERT_TRUE(d.decode(bytes(block.begin(), block.begin() + half), count));
        // Holding half a block: room for that block, not twice it.
        EXPECT_EQ(d.buffered(), block.size() / 2);
        EXPECT_GE(d.held_bytes(), block.size());
        EXPECT_LT(d.held_bytes(), block.size() + peer_decoder::small_buffer_bytes);
        ASSERT_TRUE(d.decode(bytes(block.begin() + half, block.end()), count));
    }
    EXPECT_EQ(blocks, 4);
    // The burst is over: nothing pending, so nothing large is kept.
    EXPECT_EQ(d.buffered(), 0U);
    EXPECT_LE(d.held_bytes(), peer_decoder::small_buffer_bytes);
    // The same after a block whose end arrives together with the start of a small message.
    const bytes tail = cat({bytes(block.begin() + 100, block.end()), have});
    ASSERT_TRUE(d.decode(bytes(block.begin(), block.begin() + 100), count));
    ASSERT_TRUE(d.decode(bytes(tail.begin(), tail.end() - 2), count));
    EXPECT_EQ(d.buffered(), have.size() - 2);
    EXPECT_LE(d.held_bytes(), peer_decoder::small_buffer_bytes);
    ASSERT_TRUE(d.decode(bytes(tail.end() - 2, tail.end()), count));
    EXPECT_EQ(blocks, 5);
    EXPECT_EQ(haves, 1);
    EXPECT_LE(d.held_bytes(), peer_decoder::small_buffer_bytes);
}

bytes handshake_bytes_for(std::uint8_t hash0, std::uint8_t id0) {
    bytes b{19};
    for (char c : protocol_string) {
        b.push_back(static_cast<std::uint8_t>(c));
    }
    b.resize(68, 0);
    b[28] = hash0;
    b[48] = id0;
    return b;
}

TEST(PeerDecoder, HandshakeThenMessagesInOneChunkOrByteByByte) {
    const bytes in = cat({handshake_bytes_for(7, 9), msg(1, {}), msg(4, u32(3))});
    for (const auto& got : {decode_whole(in, decoder_start::handshake),
                            decode_byte_by_byte(in, decoder_start::handshake),
                            decode_in_chunks(in, 5, decoder_start::handshake),
                            decode_in_chunks(in, in.size(), decoder_start::handshake)}) {
        EXPECT_FALSE(got.err.has_value());
        EXPECT_EQ(got.messages, "handshake 7 9; unchoke; have 3");
    }
}

TEST(PeerDecoder, BadPstrlenFailsOnTheFirstByte) {
    auto got = decode_whole(bytes{18}, decoder_start::handshake);
    ASSERT_TRUE(got.err.has_value());
    EXPECT_TRUE(is(*got.err, peer_wire_errc::bad_protocol_string));
    EXPECT_EQ(got.err->offset, 0U);
}

TEST(PeerDecoder, BadPstrReportsOffsetOne) {
    bytes in = handshake_bytes_for(0, 0);
    in[1] = 'b';
    auto got = decode_byte_by_byte(in, decoder_start::handshake);
    ASSERT_TRUE(got.err.has_value());
    EXPECT_TRUE(is(*got.err, peer_wire_errc::bad_protocol_string));
    EXPECT_EQ(got.err->offset, 1U);
}

}  // namespace
}  // namespace minibit::wire
