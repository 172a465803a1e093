// Fuzz target: the stateful peer wire decoder as one peer session. Input layout: byte 0 picks
// the torrent bounds and whether the stream starts with a handshake; bytes 1..4 are the chunk
// sizes (1..256) the rest is fed in, cycling. Each decoded message is re-encoded and must
// decode back, alone, to an equal message (the decoder accepts only canonical encodings). The
// same chunks through decode() (parsing in place) must give the same messages and error.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "minibit/wire/peer_decoder.hpp"

namespace {

using namespace minibit::wire;
using minibit::fuzz::check;

constexpr std::array<torrent_bounds, 4> bounds_table{{
    {10, 32768, 1000},     // short last piece
    {1, 16384, 16384},     // one piece, one block
    {37, 262144, 262144},  // bitfield with 3 spare bits
    {3000, 16384, 1},      // long bitfield, 1-byte last piece
}};

void check_round_trip(const peer_message& m, torrent_bounds bounds) {
    std::vector<std::uint8_t> out(encoded_size(m));
    const auto n = encode(m, out);
    check(n.has_value() && *n == out.size(), "decoded message does not re-encode");
    if (const auto* p = std::get_if<piece_block>(&m)) {
        out.insert(out.end(), p->data.begin(), p->data.end());
    }
    const bool hs = std::holds_alternative<handshake>(m);
    peer_decoder again(bounds, hs ? decoder_start::handshake : decoder_start::messages);
    again.feed(out);
    const auto back = again.next();
    check(back.has_value() && back->has_value(), "re-encoded message does not decode");
    check(**back == m, "re-encoded message decodes to a different value");
    check(again.buffered() == 0, "re-encoded message leaves bytes behind");
}

/// A message's wire bytes (header and, for PIECE, its data), to compare two decodes.
std::vector<std::uint8_t> wire_of(const peer_message& m) {
    std::vector<std::uint8_t> out(encoded_size(m));
    (void)encode(m, out);
    if (const auto* p = std::get_if<piece_block>(&m)) {
        out.insert(out.end(), p->data.begin(), p->data.end());
    }
    return out;
}

// Decodes what is buffered; returns false when the session ended with an error. `messages`
// counts decoded messages: each takes at least 4 input bytes, so it stays below the input size.
bool drain(peer_decoder& d, torrent_bounds bounds, std::size_t& messages, std::size_t limit,
           std::vector<std::vector<std::uint8_t>>& seen) {
    for (;;) {
        auto r = d.next();
        if (!r) {
            const auto again = d.next();
            check(!again && again.error().code == r.error().code, "decoder error is not sticky");
            return false;
        }
        if (!r->has_value()) return true;
        check(++messages <= limit, "decoder yields more messages than the input can hold");
        check_round_trip(**r, bounds);
        seen.push_back(wire_of(**r));
    }
}

// The same stream through decode() (in place where it can), each chunk from one reused buffer
// scribbled over after the call: the same messages and the same error as feed/next.
void check_decode_agrees(const std::uint8_t* data, std::size_t size, torrent_bounds bounds,
                         decoder_start start, const std::array<std::size_t, 4>& chunks,
                         const std::vector<std::vector<std::uint8_t>>& expected,
                         bool expected_error) {
    peer_decoder d(bounds, start);
    std::vector<std::vector<std::uint8_t>> seen;
    std::vector<std::uint8_t> buffer;
    bool failed = false;
    std::size_t pos = 5;
    for (std::size_t i = 0; pos < size && !failed; ++i) {
        const std::size_t n = std::min(chunks[i % 4], size - pos);
        buffer.assign(data + pos, data + pos + n);
        pos += n;
        failed = !d.decode(buffer, [&seen](const peer_message& m) {
            seen.push_back(wire_of(m));
            return true;
        });
        std::fill(buffer.begin(), buffer.end(), std::uint8_t{0xee});
    }
    check(seen == expected, "decode() and feed/next disagree on the messages");
    check(failed == expected_error, "decode() and feed/next disagree on the error");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) return 0;
    const auto bounds = bounds_table[data[0] & 3U];
    const auto start = (data[0] & 4U) != 0 ? decoder_start::messages : decoder_start::handshake;
    const std::array<std::size_t, 4> chunks{std::size_t{data[1]} + 1, std::size_t{data[2]} + 1,
                                            std::size_t{data[3]} + 1, std::size_t{data[4]} + 1};
    peer_decoder d(bounds, start);
    std::size_t messages = 0;
    std::vector<std::vector<std::uint8_t>> seen;
    bool failed = false;
    std::size_t pos = 5;
    for (std::size_t i = 0; pos < size && !failed; ++i) {
        const std::size_t n = std::min(chunks[i % 4], size - pos);
        d.feed({data + pos, n});
        pos += n;
        failed = !drain(d, bounds, messages, size / 4, seen);
    }
    check_decode_agrees(data, size, bounds, start, chunks, seen, failed);
    return 0;
}
