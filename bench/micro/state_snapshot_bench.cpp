// The state file's cost at 100k and 1M peers (swarms of 50): one snapshot of the whole table
// (encode, one shard lock at a time: the `longest_hold_us` counter is the longest an announce
// could wait), the same plus the atomic write to a temp folder (write, fsync, rename, fsync of
// the folder), and a load of the file into an empty table (what a restart costs).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "minibit/tracker/service.hpp"
#include "minibit/tracker/state_saver.hpp"

namespace {

namespace tr = minibit::tracker;
using minibit::info_hash;

info_hash hash_of(std::uint32_t t) {
    info_hash h;
    for (std::size_t i = 0; i < h.bytes.size(); ++i)
        h.bytes[i] = static_cast<std::uint8_t>((t * 2654435761U + i * 40503U) >> (i % 4 * 8U));
    return h;
}

std::unique_ptr<tr::tracker_service> filled_service(std::uint32_t peers) {
    std::array<std::uint8_t, 16> key{};
    auto svc = std::make_unique<tr::tracker_service>(tr::service_config{}, 1,
                                                     tr::connection_id_issuer(key));
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    constexpr std::uint32_t per_swarm = 50;
    for (std::uint32_t i = 0; i < peers; ++i) {
        const info_hash h = hash_of(i / per_swarm);
        tr::peer_entry e;
        e.peer.address = {10, static_cast<std::uint8_t>(i >> 16U),
                          static_cast<std::uint8_t>(i >> 8U), static_cast<std::uint8_t>(i)};
        e.peer.port = static_cast<std::uint16_t>(6881 + i % 1000);
        e.seeder = i % 4 == 0;
        e.age = std::chrono::seconds(i % 1800);
        svc->with_shard(svc->shard_of(h), [&](tr::swarm_shard& s) { (void)s.merge(h, e, now); });
    }
    return svc;
}

std::filesystem::path temp_folder() {
    char tmpl[] = "/tmp/minibit-state-bench-XXXXXX";
    return ::mkdtemp(tmpl) != nullptr ? std::filesystem::path(tmpl) : std::filesystem::path("/tmp");
}

void bm_snapshot(benchmark::State& state) {
    const auto svc = filled_service(static_cast<std::uint32_t>(state.range(0)));
    std::chrono::microseconds longest{0};
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        tr::save_report r;
        auto image = tr::snapshot_table(*svc, std::chrono::seconds(3660), r);
        benchmark::DoNotOptimize(image.data());
        longest = std::max(longest, r.longest_hold);
        bytes = r.bytes;
    }
    state.counters["longest_hold_us"] = static_cast<double>(longest.count());
    state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(bm_snapshot)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void bm_snapshot_and_write(benchmark::State& state) {
    const auto svc = filled_service(static_cast<std::uint32_t>(state.range(0)));
    const auto dir = temp_folder();
    tr::state_saver saver(*svc, dir / "swarms.state", std::chrono::seconds(3600),
                          std::chrono::seconds(3660));
    std::chrono::microseconds longest{0};
    std::chrono::microseconds write{0};
    for (auto _ : state) {
        auto r = saver.save();
        if (!r) return state.SkipWithError(r.error().message().c_str());
        longest = std::max(longest, r->longest_hold);
        write = std::max(write, r->write);
    }
    state.counters["longest_hold_us"] = static_cast<double>(longest.count());
    state.counters["max_write_ms"] = static_cast<double>(write.count()) / 1000.0;
    std::filesystem::remove_all(dir);
}
BENCHMARK(bm_snapshot_and_write)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void bm_load(benchmark::State& state) {
    const auto svc = filled_service(static_cast<std::uint32_t>(state.range(0)));
    const auto dir = temp_folder();
    tr::state_saver saver(*svc, dir / "swarms.state", std::chrono::seconds(3600),
                          std::chrono::seconds(3660));
    if (!saver.save()) return state.SkipWithError("cannot write the state file");
    for (auto _ : state) {
        state.PauseTiming();
        auto fresh = filled_service(0);
        state.ResumeTiming();
        auto r = tr::load_state(*fresh, dir / "swarms.state", std::chrono::seconds(3660));
        if (!r) return state.SkipWithError(r.error().message().c_str());
        benchmark::DoNotOptimize(r->loaded);
        state.PauseTiming();
        fresh.reset();
        state.ResumeTiming();
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(bm_load)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
