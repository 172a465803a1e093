// Piece picker operations at 1k to 1M pieces: a HAVE (one bucket move), a pick of 4 pieces for
// a peer holding half the torrent among 20 peers, and a peer disconnect plus reconnect
// (remove_peer + add_peer of a half-full bitfield, O(pieces the peer has)).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/swarm/piece_picker.hpp"

namespace {

using minibit::bitfield;
using minibit::piece_index;
using minibit::swarm::piece_picker;

constexpr std::uint32_t piece_length = 256 * 1024;
constexpr int other_peers = 20;

bitfield random_half(std::uint32_t n, std::mt19937_64& rng) {
    bitfield b(n);
    for (std::uint32_t i = 0; i < n; ++i)
        if ((rng() & 1U) != 0) b.set(piece_index(i));
    return b;
}

/// A picker with `other_peers` random half-full peers connected.
piece_picker populated(std::uint32_t n, std::mt19937_64& rng) {
    piece_picker p(n, piece_length, piece_length);
    for (int i = 0; i < other_peers; ++i) p.add_peer(random_half(n, rng));
    return p;
}

void bm_picker_have(benchmark::State& state) {
    const auto n = static_cast<std::uint32_t>(state.range(0));
    std::mt19937_64 rng(1);
    piece_picker p = populated(n, rng);
    const bitfield full(n, true);
    std::uint32_t i = 0;
    for (auto _ : state) {
        p.on_have(piece_index(i));
        if (++i == n) {  // every piece moved up once: undo that outside the timing
            state.PauseTiming();
            p.remove_peer(full);
            i = 0;
            state.ResumeTiming();
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_picker_have)->Arg(1 << 10)->Arg(1 << 14)->Arg(1 << 18)->Arg(1 << 20);

void bm_picker_pick(benchmark::State& state) {
    const auto n = static_cast<std::uint32_t>(state.range(0));
    std::mt19937_64 rng(2);
    piece_picker p = populated(n, rng);
    for (std::uint32_t i = 0; i < 4; ++i) p.mark_have(piece_index(i));  // past random-first
    const bitfield peer = random_half(n, rng);
    for (auto _ : state) benchmark::DoNotOptimize(p.pick(peer, 4, rng));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_picker_pick)->Arg(1 << 10)->Arg(1 << 14)->Arg(1 << 18)->Arg(1 << 20);

void bm_picker_peer_disconnect_reconnect(benchmark::State& state) {
    const auto n = static_cast<std::uint32_t>(state.range(0));
    std::mt19937_64 rng(3);
    piece_picker p = populated(n, rng);
    const bitfield peer = random_half(n, rng);
    p.add_peer(peer);
    for (auto _ : state) {
        p.remove_peer(peer);
        p.add_peer(peer);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["pieces_of_peer"] = static_cast<double>(peer.count());
}
BENCHMARK(bm_picker_peer_disconnect_reconnect)
    ->Arg(1 << 10)
    ->Arg(1 << 14)
    ->Arg(1 << 18)
    ->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
