#include "announce_cli.hpp"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "../common/flags.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/loadgen/commands.hpp"

namespace minibit::loadgen {

const std::string_view announce_usage = R"(usage: minibit-loadgen announce --tracker URL [FLAGS]

Drives announces at a BitTorrent tracker (http://IPv4:PORT/PATH or udp://IPv4:PORT) from many
simulated peers (distinct peer ids and ports; each peer: started, periodic announces, half the
leechers complete, stopped after 10 announces, then started again) and reports announces per
second, latency percentiles and errors by kind.

  --tracker URL            the tracker to load (required)
  --torrents T             distinct info hashes (default 10)
  --peers P                simulated peers, round-robin over the torrents (default 1000)
  --concurrency C          HTTP connections / UDP requests in flight (default 16)
  --rate R                 offer at most R announces per second (paced; default: as fast
                           as answers come back)
  --count N                issue N announces, or
  --duration S             issue announces for S seconds (default 10; with --count: a cap, 60)
  --numwant N              numwant of leechers; seeders ask for N/4 (default 50)
  --timeout S              per request attempt (default 5)
  --retries N              UDP retransmissions after a timeout (default 1)
  --http-close             one TCP connection per announce (as opentracker forces)
  --write-info-hashes FILE write the T info hashes (40 hex digits a line); without
                           --tracker, exit after writing
  --json                   print one JSON object instead of text

Exit status: 0 when every announce was answered; 1 when any failed or none was sent;
2 on a usage error.
)";

namespace {

using apps::flags;
using apps::usage_error;

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

announce_options read_announce_options(const flags& f) {
    if (!f.positional().empty())
        throw usage_error(fmt::format("unexpected argument '{}'", f.positional()[0]));
    announce_options o;
    o.torrents =
        static_cast<std::uint32_t>(f.get_uint("torrents", 1, 1U << 20U).value_or(o.torrents));
    o.peers = static_cast<std::uint32_t>(f.get_uint("peers", 1, 1U << 24U).value_or(o.peers));
    if (o.peers / o.torrents >= max_peers_per_torrent)
        throw usage_error(fmt::format("--peers: at most {} peers per torrent (distinct ports)",
                                      max_peers_per_torrent));
    o.concurrency = static_cast<std::uint32_t>(
        f.get_uint("concurrency", 1, 20000).value_or(o.concurrency));
    if (o.concurrency > o.peers)
        throw usage_error("--concurrency must not exceed --peers (one request per peer at a time)");
    o.count = f.get_uint("count", 1, 1ULL << 40U).value_or(0);
    const auto duration = f.get_seconds("duration");
    o.duration = to_ms(duration.value_or(o.count != 0 ? 60.0 : 10.0));
    if (o.duration.count() <= 0 || o.duration > std::chrono::hours(24))
        throw usage_error("--duration must be in (0, 86400] seconds");
    if (const auto rate = f.get("rate")) {
        char* end = nullptr;
        o.rate = std::strtod(rate->c_str(), &end);
        if (end == rate->c_str() || *end != '\0' || !(o.rate > 0) || o.rate > 1e8)
            throw usage_error("--rate must be a number of announces per second in (0, 1e8]");
    }
    o.numwant = static_cast<std::uint32_t>(f.get_uint("numwant", 0, 1000).value_or(o.numwant));
    o.timeout = to_ms(f.get_seconds("timeout").value_or(5.0));
    if (o.timeout.count() <= 0 || o.timeout > std::chrono::minutes(5))
        throw usage_error("--timeout must be in (0, 300] seconds");
    o.udp_retries = static_cast<std::uint32_t>(f.get_uint("retries", 0, 10).value_or(1));
    o.reuse = f.has("http-close") ? http_reuse::close_each : http_reuse::keep_alive;
    return o;
}

}  // namespace

int cmd_announce(int argc, char** argv) {
    const flags f(argc, argv, 2,
                  {"tracker", "torrents", "peers", "concurrency", "count", "duration", "numwant",
                   "timeout", "retries", "write-info-hashes", "rate"},
                  {"json", "http-close"});
    announce_options o = read_announce_options(f);
    o.info_hashes_file = f.get("write-info-hashes").value_or("");
    if (const auto url = f.get("tracker")) {
        auto parts = parse_tracker_url(*url);
        if (!parts) throw usage_error(parts.error().reason);
        o.url = *url;
        o.tracker = *parts;
    } else if (o.info_hashes_file.empty()) {
        throw usage_error("announce needs --tracker URL (try: minibit-loadgen help)");
    }
    return announce_command(o, f.has("json") ? report_format::json : report_format::text);
}

}  // namespace minibit::loadgen
