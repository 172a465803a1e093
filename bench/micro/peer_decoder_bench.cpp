// Peer wire parsing: a stream of small messages (HAVE, REQUEST, CANCEL, INTERESTED, keep-alive)
// and a stream of 16 KiB PIECE messages, fed to peer_decoder in 64 KiB chunks as a socket
// would deliver them. Messages per second and bytes per second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "minibit/wire/peer_decoder.hpp"

namespace {

namespace wire = minibit::wire;
using minibit::piece_index;

constexpr std::uint32_t piece_count = 4096;
constexpr std::uint32_t piece_length = 256 * 1024;
constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr wire::torrent_bounds bounds{piece_count, piece_length, piece_length};

void append(std::vector<std::uint8_t>& out, const wire::peer_message& m) {
    const std::size_t at = out.size();
    out.resize(at + wire::encoded_size(m));
    if (!wire::encode(m, std::span(out).subspan(at))) out.resize(at);
}

std::vector<std::uint8_t> small_stream(std::size_t messages) {
    std::vector<std::uint8_t> s;
    for (std::uint32_t i = 0; i < messages; ++i) {
        const piece_index p(i % piece_count);
        const wire::block_ref b{p, (i % 16) * 16384U, 16384};
        switch (i % 5) {
        case 0: append(s, wire::have{p}); break;
        case 1: append(s, wire::request{b}); break;
        case 2: append(s, wire::cancel{b}); break;
        case 3: append(s, wire::interested{}); break;
        default: append(s, wire::keep_alive{}); break;
        }
    }
    return s;
}

std::vector<std::uint8_t> block_stream(std::size_t blocks) {
    std::vector<std::uint8_t> s;
    std::vector<std::uint8_t> data(16384, 0x5a);
    for (std::uint32_t i = 0; i < blocks; ++i) {
        const wire::block_ref b{piece_index(i % piece_count), (i % 16) * 16384U, 16384};
        const std::size_t at = s.size();
        s.resize(at + 13);
        if (!wire::encode_piece_header(b, std::span(s).subspan(at, 13))) return {};
        s.insert(s.end(), data.begin(), data.end());
    }
    return s;
}

/// Decodes the whole stream; returns the message count.
std::size_t decode_all(std::span<const std::uint8_t> stream) {
    wire::peer_decoder d(bounds, wire::decoder_start::messages);
    std::size_t n = 0;
    for (std::size_t off = 0; off < stream.size(); off += chunk_bytes) {
        d.feed(stream.subspan(off, std::min(chunk_bytes, stream.size() - off)));
        for (;;) {
            auto m = d.next();
            if (!m || !*m) break;
            benchmark::DoNotOptimize(**m);
            ++n;
        }
    }
    return n;
}

void bm_decode_small_messages(benchmark::State& state) {
    const auto stream = small_stream(10000);
    for (auto _ : state) {
        if (decode_all(stream) != 10000) state.SkipWithError("decode failed");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 10000));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(bm_decode_small_messages);

void bm_decode_piece_blocks(benchmark::State& state) {
    const auto stream = block_stream(256);
    for (auto _ : state) {
        if (decode_all(stream) != 256) state.SkipWithError("decode failed");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 256));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(bm_decode_piece_blocks);

}  // namespace

BENCHMARK_MAIN();
