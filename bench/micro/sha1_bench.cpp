// SHA-1 piece verification: minibit::sha1 (one shot), minibit::sha1_hasher fed 16 KiB blocks as
// they arrive, and OpenSSL's raw one-shot EVP_Digest on the same 256 KiB pieces. Bytes/second.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdint>
#include <span>
#include <vector>

#include "minibit/core/sha1.hpp"

namespace {

constexpr std::size_t piece_bytes = 256 * 1024;
constexpr std::size_t block_bytes = 16 * 1024;
constexpr std::size_t pieces = 64;  ///< 16 MiB of distinct pieces: beyond L2, like real data

std::vector<std::uint8_t> make_data() {
    std::vector<std::uint8_t> d(piece_bytes * pieces);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (auto& b : d) {
        x ^= x << 13U;
        x ^= x >> 7U;
        x ^= x << 17U;
        b = static_cast<std::uint8_t>(x);
    }
    return d;
}

std::span<const std::uint8_t> piece_of(const std::vector<std::uint8_t>& d, std::size_t i) {
    return {d.data() + (i % pieces) * piece_bytes, piece_bytes};
}

void bm_minibit_sha1(benchmark::State& state) {
    const auto data = make_data();
    std::size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(minibit::sha1(piece_of(data, i++)));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * piece_bytes));
}
BENCHMARK(bm_minibit_sha1);

void bm_minibit_hasher_blocks(benchmark::State& state) {
    const auto data = make_data();
    minibit::sha1_hasher h;
    std::size_t i = 0;
    for (auto _ : state) {
        const auto p = piece_of(data, i++);
        for (std::size_t off = 0; off < piece_bytes; off += block_bytes)
            h.update(p.subspan(off, block_bytes));
        benchmark::DoNotOptimize(h.finish());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * piece_bytes));
}
BENCHMARK(bm_minibit_hasher_blocks);

void bm_openssl_evp_digest(benchmark::State& state) {
    const auto data = make_data();
    const EVP_MD* md = EVP_sha1();
    std::size_t i = 0;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    for (auto _ : state) {
        const auto p = piece_of(data, i++);
        if (EVP_Digest(p.data(), p.size(), out, &len, md, nullptr) != 1)
            state.SkipWithError("EVP_Digest failed");
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * piece_bytes));
}
BENCHMARK(bm_openssl_evp_digest);

}  // namespace

BENCHMARK_MAIN();
