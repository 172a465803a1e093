// The tracker's announce path: one swarm_shard::announce (record the peer, sample 50 peers),
// and the whole service path of a BEP 15 datagram and of an HTTP announce target (parse,
// connection-id check, shard lock, table, encode). Swarms of 10 to 10,000 peers. The shard
// announce runs zone-blind (zones 0), with the default /24 zones (1, 16 peers of a swarm per
// /24) and with a zones file of 64 /20 prefixes (2, about 40 zones in use).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "minibit/tracker/service.hpp"
#include "minibit/tracker/swarm_table.hpp"
#include "minibit/tracker/zone_map.hpp"
#include "minibit/wire/tracker_udp.hpp"

namespace {

namespace tr = minibit::tracker;
namespace wire = minibit::wire;
using minibit::info_hash;

info_hash hash_of(std::uint32_t t) {
    info_hash h;
    for (std::size_t i = 0; i < h.bytes.size(); ++i)
        h.bytes[i] = static_cast<std::uint8_t>((t * 2654435761U) >> (i % 4 * 8U));
    return h;
}

tr::announce_input input(std::uint32_t peer, std::uint32_t torrents) {
    tr::announce_input in;
    in.hash = hash_of(peer % torrents);
    in.peer.address = {10, static_cast<std::uint8_t>(peer >> 16U),
                       static_cast<std::uint8_t>(peer >> 8U), static_cast<std::uint8_t>(peer)};
    in.peer.port = static_cast<std::uint16_t>(6881 + peer % 1000);
    in.left = peer % 4 == 0 ? 0 : 1000;
    in.numwant = 50;
    in.families = tr::peer_families::ipv4;
    return in;
}

// 64 zones of /20 over 10.0.0.0/14.
const tr::zone_map& file_zones() {
    static const tr::zone_map m = [] {
        std::string text;
        for (unsigned z = 0; z < 64; ++z) {
            text += "10." + std::to_string(z / 16) + "." + std::to_string(z % 16 * 16) +
                    ".0/20 zone" + std::to_string(z) + "\n";
        }
        return *tr::zone_map::parse(text);
    }();
    return m;
}

void bm_shard_announce(benchmark::State& state) {
    const auto peers_per_swarm = static_cast<std::uint32_t>(state.range(0));
    static const tr::zone_map slash24;
    const std::array<const tr::zone_map*, 3> modes{nullptr, &slash24, &file_zones()};
    const tr::zone_map* zones = modes.at(static_cast<std::size_t>(state.range(1)));
    constexpr std::uint32_t torrents = 16;
    const std::uint32_t peers = peers_per_swarm * torrents;
    tr::swarm_shard shard(tr::table_config{}, 1);
    std::vector<std::uint8_t> p4;
    std::vector<std::uint8_t> p6;
    const std::chrono::seconds now(100);
    for (std::uint32_t i = 0; i < peers; ++i) (void)shard.announce(input(i, torrents), now, p4, p6);
    std::uint32_t i = 0;
    for (auto _ : state) {
        p4.clear();
        tr::announce_input in = input(i, torrents);
        in.zones = zones;
        auto r = shard.announce(in, now, p4, p6);
        benchmark::DoNotOptimize(r);
        if (++i == peers) i = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_shard_announce)
    ->ArgNames({"peers", "zones"})
    ->ArgsProduct({{10, 500, 1000, 10000}, {0, 1, 2}});

tr::tracker_service make_service() {
    std::array<std::uint8_t, 16> key{};
    key[0] = 7;
    return tr::tracker_service(tr::service_config{}, 1, tr::connection_id_issuer(key));
}

void bm_service_udp_announce(benchmark::State& state) {
    const auto peers = static_cast<std::uint32_t>(state.range(0));
    constexpr std::uint32_t torrents = 16;
    tr::tracker_service svc = make_service();
    const auto from = minibit::io::address::loopback_v4(40000);
    const std::chrono::seconds now(100);
    std::vector<std::uint8_t> pkt;
    std::vector<std::uint8_t> reply;
    wire::encode_udp(wire::udp_connect_request{1}, pkt);
    svc.handle_udp(pkt, from, now, reply);
    auto conn = wire::parse_udp_response(reply, wire::udp_peer_family::ipv4);
    const auto* c = conn ? std::get_if<wire::udp_connect_response>(&*conn) : nullptr;
    if (c == nullptr) return state.SkipWithError("no connection id");
    std::vector<std::vector<std::uint8_t>> packets(peers);
    for (std::uint32_t i = 0; i < peers; ++i) {
        wire::udp_announce_request a;
        a.connection_id = c->connection_id;
        a.transaction_id = i;
        a.hash = hash_of(i % torrents);
        a.peer_id[0] = static_cast<std::uint8_t>(i);
        a.left = i % 4 == 0 ? 0 : 1000;
        a.num_want = 50;
        a.port = static_cast<std::uint16_t>(1024 + i / torrents);
        wire::encode_udp(a, packets[i]);
        svc.handle_udp(packets[i], from, now, reply);
    }
    std::uint32_t i = 0;
    for (auto _ : state) {
        reply.clear();
        svc.handle_udp(packets[i], from, now, reply);
        benchmark::DoNotOptimize(reply.data());
        if (++i == peers) i = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_service_udp_announce)->Arg(160)->Arg(16000)->Arg(160000);

void bm_service_http_announce(benchmark::State& state) {
    const auto peers = static_cast<std::uint32_t>(state.range(0));
    constexpr std::uint32_t torrents = 16;
    tr::tracker_service svc = make_service();
    const auto from = minibit::io::address::loopback_v4(40000);
    const std::chrono::seconds now(100);
    std::vector<std::string> targets(peers);
    for (std::uint32_t i = 0; i < peers; ++i) {
        wire::announce_request a;
        a.hash = hash_of(i % torrents);
        a.peer_id[0] = static_cast<std::uint8_t>(i);
        a.port = static_cast<std::uint16_t>(1024 + i / torrents);
        a.left = i % 4 == 0 ? 0 : 1000;
        a.numwant = 50;
        targets[i] = "/announce?" + wire::build_announce_query(a);
        (void)svc.handle_http(targets[i], from, now);
    }
    std::uint32_t i = 0;
    for (auto _ : state) {
        auto r = svc.handle_http(targets[i], from, now);
        benchmark::DoNotOptimize(r);
        if (++i == peers) i = 0;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(bm_service_http_announce)->Arg(160)->Arg(16000)->Arg(160000);

}  // namespace

BENCHMARK_MAIN();
