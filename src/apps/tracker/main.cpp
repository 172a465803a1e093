// minibit-tracker: a BitTorrent tracker (HTTP BEP 3/23/7/48 and UDP BEP 15). Parses flags,
// starts tracker::tracker_server, reloads allow/deny lists on SIGHUP, stops on SIGTERM/SIGINT,
// and talks to systemd (READY=1, WATCHDOG=1, STOPPING=1). No tracker logic lives here.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "minibit/tracker/info_hash_filter.hpp"
#include "minibit/tracker/server.hpp"
#include "sd_notify.hpp"

namespace {

using namespace minibit;

constexpr const char* usage = R"(usage: minibit-tracker [flags]

  --http ADDR:PORT      HTTP announce/scrape/stats/metrics listener, or "off" (default 0.0.0.0:6969)
  --udp ADDR:PORT       UDP (BEP 15) socket, or "off" (default 0.0.0.0:6969)
  --threads N           reactor threads, 0 = one per core (default 0)
  --io auto|uring|epoll I/O back end; auto tries io_uring, then epoll (default auto)
  --interval SECONDS    announce interval told to clients (default 1800)
  --min-interval SECS   minimum announce interval told to clients (default 60)
  --max-numwant N       most peers in one answer (default 200)
  --log-level LEVEL     trace, debug, info, warn, error or off (default info)
  --batch-wait-us N     io_uring on kernel 6.12+: sleep until 32 events are ready or N
                        microseconds have passed and one is, so a busy UDP tracker wakes once
                        per several announces (less CPU each, up to N us more latency; 250-500
                        halves to thirds the CPU per UDP announce at 20k/s, but costs more CPU
                        with a new HTTP connection per announce); 0 wakes on every event
                        (default 0)
  --request-timeout S   an HTTP request head must be complete S seconds after the accept
                        (first request) or its first byte (later ones), else the connection
                        is closed (default 10)
  --idle-timeout S      a keep-alive HTTP connection may wait S seconds between requests
                        (default 60)
  --max-connections N   open HTTP connections at most; more are closed at accept (default
                        100000; also raise the file limit, ulimit -n)
  --allow-list FILE     serve only the info hashes in FILE (40 hex digits per line); SIGHUP reloads
  --deny-list FILE      refuse the info hashes in FILE; SIGHUP reloads
  --state-file PATH     keep the swarms across restarts: loaded at start (a damaged file is
                        logged and ignored), written atomically every --state-interval and on
                        SIGTERM/SIGINT (default: none)
  --state-interval S    seconds between two writes of the state file (default 30)
  --store URL           share the swarms with every tracker on the same Redis:
                        redis://HOST:PORT[/DB] or unix:///PATH/redis.sock[?db=N]; each
                        instance answers from its own table, writes announces through in
                        batches and merges the others' (a name is resolved once, at start)
  --store-flush-ms MS   write announces through at least every MS ms (default 50)
  --store-refresh-ms MS read the other instances' announces every MS ms (default 500)
  --help                print this text

Peers that stop announcing expire after 2 x interval + 60 s. SIGTERM or SIGINT stops the tracker.
)";

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct options {
    tracker::server_config server;
    std::string level = "info";
    std::optional<std::string> list_file;
    tracker::filter_mode list_mode = tracker::filter_mode::allow_all;
};

std::uint64_t to_uint(const std::string& flag, const std::string& v, std::uint64_t min,
                      std::uint64_t max) {
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || v.empty() || v[0] == '-' || n < min || n > max) {
        throw usage_error(flag + ": expected a number in " + std::to_string(min) + ".." +
                          std::to_string(max) + ", got '" + v + "'");
    }
    return n;
}

std::optional<io::address> to_address(const std::string& flag, const std::string& v) {
    if (v == "off") return std::nullopt;
    auto a = io::address::parse(v);
    if (!a) throw usage_error(flag + ": expected ADDR:PORT or off, got '" + v + "'");
    return *a;
}

// Applies one --flag VALUE pair.
void apply(options& o, const std::string& flag, const std::string& v) {
    auto& svc = o.server.service;
    if (flag == "--http") o.server.http = to_address(flag, v);
    else if (flag == "--udp") o.server.udp = to_address(flag, v);
    else if (flag == "--threads")
        o.server.threads = static_cast<unsigned>(to_uint(flag, v, 0, 256));
    else if (flag == "--io") {
        auto k = io::parse_backend_kind(v);
        if (!k) throw usage_error("--io: expected auto, uring or epoll, got '" + v + "'");
        o.server.backend = *k;
    } else if (flag == "--interval")
        svc.interval = std::chrono::seconds(to_uint(flag, v, 1, 43200));
    else if (flag == "--min-interval")
        svc.min_interval = std::chrono::seconds(to_uint(flag, v, 1, 43200));
    else if (flag == "--max-numwant")
        svc.table.max_numwant = static_cast<std::uint32_t>(to_uint(flag, v, 1, 2000));
    else if (flag == "--log-level") o.level = v;
    else if (flag == "--batch-wait-us")
        o.server.batch_wait = std::chrono::microseconds(to_uint(flag, v, 0, 100000));
    else if (flag == "--request-timeout")
        o.server.http_front.request_timeout = std::chrono::seconds(to_uint(flag, v, 1, 3600));
    else if (flag == "--idle-timeout")
        o.server.http_front.idle_timeout = std::chrono::seconds(to_uint(flag, v, 1, 86400));
    else if (flag == "--max-connections")
        o.server.http_front.max_connections = to_uint(flag, v, 1, 10000000);
    else if (flag == "--allow-list" || flag == "--deny-list") {
        if (o.list_file) throw usage_error("give at most one of --allow-list and --deny-list");
        o.list_file = v;
        o.list_mode = flag == "--allow-list" ? tracker::filter_mode::allow_listed
                                             : tracker::filter_mode::deny_listed;
    } else if (flag == "--state-file") {
        if (v.empty()) throw usage_error("--state-file: expected a path");
        o.server.state_file = v;
    } else if (flag == "--store") {
        auto a = tracker::store_address::parse(v);
        if (!a) throw usage_error("--store: " + a.error().message());
        if (!o.server.store) o.server.store.emplace();
        o.server.store->address = *a;
    } else if (flag == "--store-flush-ms" || flag == "--store-refresh-ms") {
        if (!o.server.store) o.server.store.emplace();
        const auto ms = std::chrono::milliseconds(to_uint(flag, v, 1, 60000));
        (flag == "--store-flush-ms" ? o.server.store->flush_interval
                                    : o.server.store->refresh_interval) = ms;
    } else if (flag == "--state-interval") {
        o.server.state_interval = std::chrono::seconds(to_uint(flag, v, 1, 86400));
    } else {
        throw usage_error("unknown flag " + flag + " (see --help)");
    }
}

options parse(int argc, char** argv) {
    options o;
    o.server.http = *io::address::parse("0.0.0.0:6969");
    o.server.udp = *io::address::parse("0.0.0.0:6969");
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        std::string value;
        if (const auto eq = flag.find('='); eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag.resize(eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            throw usage_error(flag + " needs a value");
        }
        apply(o, flag, value);
    }
    if (!o.server.http && !o.server.udp) throw usage_error("--http and --udp are both off");
    if (o.server.store && o.server.store->address.host.empty() &&
        o.server.store->address.path.empty()) {
        throw usage_error("--store-flush-ms and --store-refresh-ms need --store");
    }
    if (o.server.store) {
        if (auto v = o.server.store->validate(); !v) throw usage_error(v.error().reason);
    }
    auto& svc = o.server.service;
    svc.table.peer_timeout = 2 * svc.interval + std::chrono::seconds(60);
    svc.table.default_numwant = std::min<std::uint32_t>(50, svc.table.max_numwant);
    svc.query.max_numwant = svc.table.max_numwant;
    if (auto v = svc.validate(); !v) throw usage_error(v.error().reason);
    const auto level = spdlog::level::from_str(o.level);
    if (level == spdlog::level::off && o.level != "off") {
        throw usage_error("--log-level: expected trace, debug, info, warn, error or off");
    }
    spdlog::set_level(level);
    return o;
}

std::shared_ptr<const tracker::info_hash_filter> load_filter(const options& o) {
    if (!o.list_file) return std::make_shared<const tracker::info_hash_filter>();
    auto f = tracker::info_hash_filter::load(*o.list_file, o.list_mode);
    if (!f) throw std::runtime_error(f.error().message());
    return std::make_shared<const tracker::info_hash_filter>(std::move(*f));
}

// Waits for signals on the main thread; the reactor threads inherit the blocked mask.
int serve(const options& o, const sigset_t& signals) {
    auto server = tracker::tracker_server::start(o.server, load_filter(o));
    if (!server) throw std::runtime_error("cannot start: " + server.error().message());
    auto& s = **server;
    spdlog::info("minibit-tracker: http {} udp {} io {}",
                 s.http_address() ? s.http_address()->to_string() : "off",
                 s.udp_address() ? s.udp_address()->to_string() : "off",
                 io::to_string(s.backend()));
    apps::sd_notify("READY=1");
    const auto watchdog = apps::watchdog_period();
    const timespec wait{0, 250'000'000};
    auto next_ping = std::chrono::steady_clock::now();
    while (true) {
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig == SIGTERM || sig == SIGINT) break;
        if (sig == SIGHUP && o.list_file) {
            try {
                s.service().set_filter(load_filter(o));
                spdlog::info("reloaded {}", *o.list_file);
            } catch (const std::exception& e) {
                spdlog::error("reload failed, keeping the old list: {}", e.what());
            }
        }
        if (watchdog && std::chrono::steady_clock::now() >= next_ping) {
            apps::sd_notify("WATCHDOG=1");
            next_ping = std::chrono::steady_clock::now() + *watchdog;
        }
    }
    apps::sd_notify("STOPPING=1");
    spdlog::info("minibit-tracker: stopping");
    s.stop();
    s.join();
    // The last snapshot, after the reactors stopped: no announce is lost between the two.
    return s.save_state() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    options o;
    try {
        o = parse(argc, argv);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "minibit-tracker: %s\n", e.what());
        return 2;
    }
    try {
        return serve(o, signals);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "minibit-tracker: %s\n", e.what());
        return 1;
    }
}
