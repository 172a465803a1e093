// Decoding a real-sized .torrent: bdecode alone and parse_metainfo (decode + validation) of a
// multi-file torrent with 1,024 to 65,536 pieces (20 bytes of SHA-1 each) and 200 files.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "minibit/core/bencode.hpp"
#include "minibit/core/metainfo.hpp"

namespace {

using minibit::bvalue;

/// A multi-file v1 torrent as a tracker site would serve it: announce-list, 200 files.
std::string make_torrent(std::uint32_t pieces) {
    constexpr std::uint32_t files = 200;
    constexpr std::int64_t piece_length = 1 << 20;
    const std::int64_t total = piece_length * pieces;
    bvalue::list_type file_list;
    std::int64_t left = total;
    for (std::uint32_t f = 0; f < files; ++f) {
        const std::int64_t len = f + 1 == files ? left : total / files;
        left -= len;
        bvalue::dict_type fd;
        fd.emplace_back("length", bvalue(len));
        bvalue::list_type path{bvalue("disc" + std::to_string(f % 4)),
                               bvalue("track" + std::to_string(f) + ".flac")};
        fd.emplace_back("path", bvalue(std::move(path)));
        file_list.emplace_back(std::move(fd));
    }
    std::string hashes(std::size_t{pieces} * 20, '\0');
    for (std::size_t i = 0; i < hashes.size(); ++i) hashes[i] = static_cast<char>((i * 131U) >> 3U);
    bvalue::dict_type info;
    info.emplace_back("files", bvalue(std::move(file_list)));
    info.emplace_back("name", bvalue("a-large-release"));
    info.emplace_back("piece length", bvalue(piece_length));
    info.emplace_back("pieces", bvalue(std::move(hashes)));
    bvalue::dict_type top;
    top.emplace_back("announce", bvalue("http://tracker.example:6969/announce"));
    top.emplace_back("comment", bvalue("benchmark torrent"));
    top.emplace_back("created by", bvalue("minibit bench"));
    top.emplace_back("creation date", bvalue(std::int64_t{1700000000}));
    top.emplace_back("info", bvalue(std::move(info)));
    return minibit::bencode(bvalue(std::move(top)));
}

void bm_bdecode_torrent(benchmark::State& state) {
    const std::string t = make_torrent(static_cast<std::uint32_t>(state.range(0)));
    for (auto _ : state) {
        auto v = minibit::bdecode(t);
        if (!v) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(v);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.size()));
    state.counters["torrent_bytes"] = static_cast<double>(t.size());
}
BENCHMARK(bm_bdecode_torrent)->Arg(1024)->Arg(4096)->Arg(65536);

void bm_parse_metainfo(benchmark::State& state) {
    const std::string t = make_torrent(static_cast<std::uint32_t>(state.range(0)));
    for (auto _ : state) {
        auto m = minibit::parse_metainfo(t);
        if (!m) state.SkipWithError(m.error().message().c_str());
        benchmark::DoNotOptimize(m);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.size()));
}
BENCHMARK(bm_parse_metainfo)->Arg(1024)->Arg(4096)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
