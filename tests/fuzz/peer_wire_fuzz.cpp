// Fuzz target: the stateful peer wire decoder as one peer session. Input layout: byte 0 picks
// the torrent bounds and whether the stream starts with a handshake; bytes 1..4 are the chunk
// sizes (1..256) the rest is fed in, cycling. Each decoded message is re-encoded and must
// decode back, alone, to an equal message (the decoder accepts only canonical encodings).
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

// Decodes what is buffered; returns false when the session ended with an error. `messages`
// counts decoded messages: each takes at least 4 input bytes, so it stays below the input size.
bool drain(peer_decoder& d, torrent_bounds bounds, std::size_t& messages, std::size_t limit) {
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
    }
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
    std::size_t pos = 5;
    for (std::size_t i = 0; pos < size; ++i) {
        const std::size_t n = std::min(chunks[i % 4], size - pos);
        d.feed({data + pos, n});
        pos += n;
        if (!drain(d, bounds, messages, size / 4)) return 0;
    }
    return 0;
}
