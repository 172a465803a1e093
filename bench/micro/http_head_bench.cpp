// The HTTP/1.x codec on what the tracker and its clients exchange: a loadgen-shaped announce
// request head (the tracker parses one per request), a tracker's response head, and a 1 KiB
// announce body as Content-Length and as chunked (64-byte chunks), whole and fed byte by byte.
#include <benchmark/benchmark.h>

#include <string>

#include "minibit/wire/http_head.hpp"

namespace {

using namespace minibit::wire;

std::string announce_request() {
    const std::string query =
        "info_hash=%aa%bb%cc%dd%ee%ff%00%11%22%33%44%55%66%77%88%99%aa%bb%cc%dd"
        "&peer_id=-MB0001-123456789012&port=6881&uploaded=0&downloaded=0&left=100&compact=1"
        "&event=started&numwant=50&key=abcdef";
    return "GET /announce?" + query +
           " HTTP/1.1\r\nHost: 127.0.0.1:6969\r\nUser-Agent: minibit-loadgen\r\n\r\n";
}

void BM_ParseAnnounceRequest(benchmark::State& state) {
    const std::string raw = announce_request();
    for (auto _ : state) {
        auto h = parse_http_request(raw, {});
        benchmark::DoNotOptimize(h);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_ParseAnnounceRequest);

void BM_ParseResponseHead(benchmark::State& state) {
    const std::string raw =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n"
        "Connection: keep-alive\r\n\r\n";
    for (auto _ : state) {
        auto h = parse_http_response(raw, {});
        benchmark::DoNotOptimize(h);
    }
}
BENCHMARK(BM_ParseResponseHead);

void BM_DecodeBody(benchmark::State& state) {
    const bool chunked = state.range(0) != 0;
    const std::size_t step = static_cast<std::size_t>(state.range(1));
    std::string body;
    for (int i = 0; i < 16; ++i)
        body += chunked ? "40\r\n" + std::string(64, 'x') + "\r\n" : std::string(64, 'x');
    if (chunked) body += "0\r\n\r\n";
    std::string out;
    for (auto _ : state) {
        http_body_decoder d(chunked ? body_framing::chunked : body_framing::content_length, 1024,
                            {});
        out.clear();
        for (std::size_t at = 0; at < body.size() && !d.done(); at += step) {
            benchmark::DoNotOptimize(d.feed(std::string_view(body).substr(at, step), out));
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_DecodeBody)
    ->ArgNames({"chunked", "step"})
    ->Args({0, 4096})
    ->Args({1, 4096})
    ->Args({1, 1});

}  // namespace

BENCHMARK_MAIN();
