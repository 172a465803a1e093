// minibit-tracker: a BitTorrent tracker (HTTP BEP 3/23/7/48 and UDP BEP 15). Reads its flags
// (CLI11, apps/common/cli.hpp conventions), starts tracker::tracker_server, reloads allow/deny
// lists on SIGHUP, stops on SIGTERM/SIGINT, and talks to systemd (READY=1, WATCHDOG=1,
// STOPPING=1). No tracker logic lives here.
#include <csignal>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "../common/cli.hpp"
#include "minibit/core/small_file.hpp"
#include "minibit/tracker/info_hash_filter.hpp"
#include "minibit/tracker/server.hpp"
#include "minibit/tracker/zone_map.hpp"
#include "reactor_heartbeat.hpp"
#include "sd_notify.hpp"

namespace {

using namespace minibit;

constexpr const char* program = "minibit-tracker";

constexpr const char* about =
    "A BitTorrent tracker: HTTP announce, scrape, /stats (JSON) and /metrics (Prometheus), and "
    "UDP (BEP 15). Peers that stop announcing expire after 2 x interval + 60 s. Answers favour "
    "peers of the asker's zone (--zones). SIGHUP reloads --allow-list or --deny-list and "
    "--zones; SIGTERM or SIGINT stops the tracker (writing --state-file).";

struct options {
    tracker::server_config server;
    std::string level = "info";
    std::optional<std::string> list_file;
    tracker::filter_mode list_mode = tracker::filter_mode::allow_all;
    std::optional<std::string> zones_file;
};

// The flags' values before they become a server_config.
struct tracker_flags {
    std::string http = "0.0.0.0:6969", udp = "0.0.0.0:6969", io = "auto", level = "info";
    std::uint32_t interval = 1800, min_interval = 60, max_numwant = 200, state_interval = 30;
    std::uint32_t batch_wait_us = 0, udp_hold_us = 400, request_timeout = 10, idle_timeout = 60;
    std::uint32_t store_flush_ms = 50, store_refresh_ms = 500;
    std::uint64_t max_connections = 100000;
    std::uint64_t rollout_torrents = 4096, rollout_peers = 262144;
    std::uint32_t straggler_after = 0;
    bool protect_reads = false;
    std::string token_file, expect_file, rollout = "on";
    CLI::Option *token = nullptr, *expect = nullptr;
    unsigned threads = 0;
    double zone_local_fraction = 0.75;
    std::string allow_list, deny_list, state_file, store, zones;
    CLI::Option *allow = nullptr, *deny = nullptr, *state = nullptr, *store_opt = nullptr;
    CLI::Option* zones_opt = nullptr;
    CLI::Option *flush = nullptr, *refresh = nullptr;
};

// ADDR:PORT or "off".
CLI::Validator address_or_off() {
    return {[](std::string& text) -> std::string {
                if (text == "off" || io::address::parse(text)) return {};
                return fmt::format("expected ADDR:PORT or off, got '{}'", text);
            },
            ""};
}

// redis://HOST:PORT[/DB] or unix:///PATH[?db=N].
CLI::Validator store_url() {
    return {[](std::string& text) -> std::string {
                auto a = tracker::store_address::parse(text);
                return a ? std::string() : a.error().message();
            },
            ""};
}

void declare_listeners(CLI::App& c, tracker_flags& f) {
    apps::add_text(c, "--http", f.http, "ADDR:PORT",
                   "HTTP announce/scrape/stats/metrics listener, or off")
        ->check(address_or_off());
    apps::add_text(c, "--udp", f.udp, "ADDR:PORT", "UDP (BEP 15) socket, or off")
        ->check(address_or_off());
    apps::add_count(c, "--threads", f.threads, 0, 256,
                    "reactor threads, 0 = one per CPU this process may run on (its affinity)");
    apps::add_choice(c, "--io", f.io, {"auto", "uring", "epoll"},
                     "I/O back end; auto tries io_uring, then epoll");
    apps::add_count(c, "--interval", f.interval, 1, 43200, "announce interval told to clients",
                    "S");
    apps::add_count(c, "--min-interval", f.min_interval, 1, 43200,
                    "minimum announce interval told to clients", "S");
    apps::add_count(c, "--max-numwant", f.max_numwant, 1, 2000, "most peers in one answer");
    f.zones_opt = apps::shown_default(
        apps::add_text(c, "--zones", f.zones, "FILE",
                       "zones (racks, rooms, regions) for peer lists: 'PREFIX/LENGTH ZONE' per "
                       "line, IPv4 and IPv6, '#' comments, the longest prefix wins; addresses no "
                       "line covers, and all without a file, share a zone with their /24 (IPv4) "
                       "or /64 (IPv6); SIGHUP reloads"),
        "none");
    apps::add_number(c, "--zone-local-fraction", f.zone_local_fraction, 0.0, 1.0, "F",
                     "share of each answer taken from the asker's zone, the rest from other "
                     "zones (a side with too few peers leaves its places to the other); 0 "
                     "turns zones off");
    apps::add_choice(c, "--log-level", f.level, {"trace", "debug", "info", "warn", "error", "off"},
                     "log level");
    apps::add_count(c, "--batch-wait-us", f.batch_wait_us, 0, 100000,
                    "io_uring on kernel 6.12+: sleep until 32 events are ready or N microseconds "
                    "have passed and one is, so a busy UDP tracker wakes once per several "
                    "announces (less CPU each, up to N us more latency; 250-500 halves to thirds "
                    "the CPU per UDP announce at 20k/s, but costs more CPU with a new HTTP "
                    "connection per announce); 0 wakes on every event. --udp-hold-us does the "
                    "same for UDP alone and is the better choice");
    apps::add_count(c, "--udp-hold-us", f.udp_hold_us, 0, 100000,
                    "io_uring: while UDP announces come faster than one per N microseconds, "
                    "read them in batches, waiting for about 16 at the measured rate but at most "
                    "N us (up to N us more latency; HTTP is not delayed); slower ones are "
                    "answered at once; 0 reads on every datagram");
    apps::add_count(c, "--request-timeout", f.request_timeout, 1, 3600,
                    "an HTTP request head must be complete S seconds after the accept (first "
                    "request) or its first byte (later ones), else the connection is closed",
                    "S");
    apps::add_count(c, "--idle-timeout", f.idle_timeout, 1, 86400,
                    "a keep-alive HTTP connection may wait S seconds between requests", "S");
    apps::add_count(c, "--max-connections", f.max_connections, 1, 10000000,
                    "open HTTP connections at most; more are closed at accept (also raise the "
                    "file limit, ulimit -n)");
}

void declare_state(CLI::App& c, tracker_flags& f) {
    f.allow = apps::shown_default(
        apps::add_text(c, "--allow-list", f.allow_list, "FILE",
                       "serve only the info hashes in FILE (40 hex digits per line); SIGHUP "
                       "reloads"),
        "");
    f.deny = apps::shown_default(apps::add_text(c, "--deny-list", f.deny_list, "FILE",
                                                "refuse the info hashes in FILE; SIGHUP reloads"),
                                 "");
    f.state = apps::shown_default(
        apps::add_text(c, "--state-file", f.state_file, "PATH",
                       "keep the swarms across restarts: loaded at start (a damaged file is "
                       "logged and ignored), written atomically every --state-interval and on "
                       "SIGTERM/SIGINT"),
        "none");
    apps::add_count(c, "--state-interval", f.state_interval, 1, 86400,
                    "seconds between two writes of the state file", "S");
    f.store_opt = apps::shown_default(
        apps::add_text(c, "--store", f.store, "URL",
                       "share the swarms with every tracker on the same Redis: "
                       "redis://HOST:PORT[/DB] or unix:///PATH/redis.sock[?db=N]; each instance "
                       "answers from its own table, writes announces through in batches and "
                       "merges the others' (a name is resolved once, at start)")
            ->check(store_url()),
        "none");
    f.flush = apps::add_count(c, "--store-flush-ms", f.store_flush_ms, 1, 60000,
                              "write announces through at least every MS ms", "MS");
    f.refresh = apps::add_count(c, "--store-refresh-ms", f.store_refresh_ms, 1, 60000,
                                "read the other instances' announces every MS ms", "MS");
}

void declare_rollout(CLI::App& c, tracker_flags& f) {
    apps::add_choice(c, "--rollout", f.rollout, {"on", "off"},
                     "the rollout view (/v1/torrents and the page at /); off also refuses the "
                     "other --rollout and token flags");
    apps::shown_default(
        apps::add_count(c, "--straggler-after", f.straggler_after, 0, 86400,
                        "rollout view: a downloading peer whose bytes left have not gone down "
                        "for S seconds is a straggler; 0 = 2 x --interval",
                        "S"),
        "0");
    f.token = apps::shown_default(
        apps::add_text(c, "--admin-token-file", f.token_file, "FILE",
                       "bearer token (the file's first line) that PUT/DELETE "
                       "/v1/torrents/HASH/expect need; without it they are refused"),
        "none");
    apps::add_switch(c, "--protect-reads", f.protect_reads,
                     "GET /v1/... needs the admin token too (the page at / takes it as "
                     "#token=...)");
    f.expect = apps::shown_default(
        apps::add_text(c, "--expect", f.expect_file, "FILE",
                       "expected host counts, one 'INFO_HASH COUNT' per line ('#' comments)"),
        "none");
    apps::add_count(c, "--rollout-max-torrents", f.rollout_torrents, 1, 10000000,
                    "torrents the rollout view tracks at once (the least recently announced "
                    "one without an expected count makes room)");
    apps::add_count(c, "--rollout-max-peers", f.rollout_peers, 1, 100000000,
                    "downloading peers the rollout view tracks at once (about 100 bytes each)");
}

/// The first line of the token file, trimmed; refuses an empty or unreadable one.
std::string read_token(const std::string& path) {
    auto line = read_first_line(path);
    if (!line) throw apps::usage_error("--admin-token-file: cannot read " + line.error().reason);
    if (line->size() < 16)
        throw apps::usage_error("--admin-token-file: the token needs 16+ characters");
    return *line;
}

void rollout_options(const tracker_flags& f, tracker::server_config& svr) {
    auto& r = svr.rollout;
    r.enabled = f.rollout == "on";
    if (!r.enabled && (apps::given(f.token) || apps::given(f.expect) || f.protect_reads))
        throw apps::usage_error(
            "--rollout off: drop --admin-token-file, --expect, --protect-reads");
    const auto interval = svr.service.interval;
    r.table.straggler_after = f.straggler_after != 0 ? std::chrono::seconds(f.straggler_after)
                                                     : std::chrono::seconds(2 * interval);
    r.table.forget_after = svr.service.table.peer_timeout;
    r.table.max_torrents = f.rollout_torrents;
    r.table.max_peers = f.rollout_peers;
    if (apps::given(f.token)) r.admin_token = read_token(f.token_file);
    if (f.protect_reads && !r.admin_token)
        throw apps::usage_error("--protect-reads needs --admin-token-file");
    r.protect_reads = f.protect_reads;
    if (apps::given(f.expect)) {
        auto e = tracker::load_expect_file(f.expect_file);
        if (!e) throw apps::usage_error("--expect: " + e.error().reason);
        r.expect = std::move(*e);
    }
}

std::optional<io::address> address_of(const std::string& text) {
    if (text == "off") return std::nullopt;
    return *io::address::parse(text);
}

// The checked flags as the server's config; usage_error for flags that depend on each other.
options options_of(const tracker_flags& f) {
    options o;
    auto& svr = o.server;
    svr.http = address_of(f.http);
    svr.udp = address_of(f.udp);
    if (!svr.http && !svr.udp) throw apps::usage_error("--http and --udp are both off");
    svr.threads = f.threads;
    svr.backend = *io::parse_backend_kind(f.io);
    svr.batch_wait = std::chrono::microseconds(f.batch_wait_us);
    svr.udp_hold = std::chrono::microseconds(f.udp_hold_us);
    svr.http_front.request_timeout = std::chrono::seconds(f.request_timeout);
    svr.http_front.idle_timeout = std::chrono::seconds(f.idle_timeout);
    svr.http_front.max_connections = f.max_connections;
    if (apps::given(f.allow) && apps::given(f.deny))
        throw apps::usage_error("give at most one of --allow-list and --deny-list");
    if (apps::given(f.allow) || apps::given(f.deny)) {
        o.list_file = apps::given(f.allow) ? f.allow_list : f.deny_list;
        o.list_mode = apps::given(f.allow) ? tracker::filter_mode::allow_listed
                                           : tracker::filter_mode::deny_listed;
    }
    if (apps::given(f.state)) {
        if (f.state_file.empty()) throw apps::usage_error("--state-file: expected a path");
        svr.state_file = f.state_file;
    }
    svr.state_interval = std::chrono::seconds(f.state_interval);
    if (!apps::given(f.store_opt) && (apps::given(f.flush) || apps::given(f.refresh)))
        throw apps::usage_error("--store-flush-ms and --store-refresh-ms need --store");
    if (apps::given(f.store_opt)) {
        svr.store.emplace();
        svr.store->address = *tracker::store_address::parse(f.store);
        svr.store->flush_interval = std::chrono::milliseconds(f.store_flush_ms);
        svr.store->refresh_interval = std::chrono::milliseconds(f.store_refresh_ms);
        if (auto v = svr.store->validate(); !v) throw apps::usage_error(v.error().reason);
    }
    auto& svc = svr.service;
    svc.interval = std::chrono::seconds(f.interval);
    svc.min_interval = std::chrono::seconds(f.min_interval);
    svc.table.max_numwant = f.max_numwant;
    svc.table.zone_local_fraction = f.zone_local_fraction;
    if (apps::given(f.zones_opt)) {
        if (f.zones.empty()) throw apps::usage_error("--zones: expected a path");
        o.zones_file = f.zones;
    }
    svc.table.peer_timeout = 2 * svc.interval + std::chrono::seconds(60);
    svc.table.default_numwant = std::min<std::uint32_t>(50, svc.table.max_numwant);
    svc.query.max_numwant = svc.table.max_numwant;
    if (auto v = svc.validate(); !v) throw apps::usage_error(v.error().reason);
    rollout_options(f, svr);
    o.level = f.level;
    return o;
}

std::shared_ptr<const tracker::info_hash_filter> load_filter(const options& o) {
    if (!o.list_file) return std::make_shared<const tracker::info_hash_filter>();
    auto f = tracker::info_hash_filter::load(*o.list_file, o.list_mode);
    if (!f) throw std::runtime_error(f.error().message());
    return std::make_shared<const tracker::info_hash_filter>(std::move(*f));
}

std::shared_ptr<const tracker::zone_map> load_zones(const options& o) {
    if (!o.zones_file) return std::make_shared<const tracker::zone_map>();
    auto z = tracker::zone_map::load(*o.zones_file);
    if (!z) throw std::runtime_error(z.error().message());
    return std::make_shared<const tracker::zone_map>(std::move(*z));
}

// SIGHUP: each file given is read again; one that fails keeps its old contents in use.
void reload(tracker::tracker_service& service, const options& o) {
    if (o.list_file) {
        try {
            service.set_filter(load_filter(o));
            spdlog::info("reloaded {}", *o.list_file);
        } catch (const std::exception& e) {
            spdlog::error("reload failed, keeping the old list: {}", e.what());
        }
    }
    if (o.zones_file) {
        try {
            auto zones = load_zones(o);
            spdlog::info("reloaded {}: {} prefixes, {} zones", *o.zones_file, zones->prefix_count(),
                         zones->zone_count());
            service.set_zones(std::move(zones));
        } catch (const std::exception& e) {
            spdlog::error("reload failed, keeping the old zones: {}", e.what());
        }
    }
}

// Waits for signals on the main thread; the reactor threads inherit the blocked mask.
int serve(const options& o, const sigset_t& signals) {
    auto zones = load_zones(o);
    auto server = tracker::tracker_server::start(o.server, load_filter(o));
    if (!server) throw std::runtime_error("cannot start: " + server.error().message());
    auto& s = **server;
    s.service().set_zones(std::move(zones));
    spdlog::info("minibit-tracker: http {} udp {} io {}",
                 s.http_address() ? s.http_address()->to_string() : "off",
                 s.udp_address() ? s.udp_address()->to_string() : "off",
                 io::to_string(s.backend()));
    apps::sd_notify("READY=1");
    const auto watchdog = apps::watchdog_period();
    // WATCHDOG=1 only after every reactor thread answered since the last one: a wedged
    // reactor stops the feeding and systemd restarts the tracker.
    apps::reactor_heartbeat heartbeat(
        s.thread_count(), [&s](unsigned i, io::task_fn task) { s.post(i, std::move(task)); });
    const timespec wait{0, 250'000'000};
    auto next_ping = std::chrono::steady_clock::now();
    auto last_alive = next_ping;
    bool alive = false;  // every reactor answered since the last WATCHDOG=1
    bool warned = false;
    while (true) {
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig == SIGTERM || sig == SIGINT) break;
        if (sig == SIGHUP) reload(s.service(), o);
        const auto now = std::chrono::steady_clock::now();
        if (heartbeat.poll()) {
            alive = true;
            last_alive = now;
            warned = false;
        }
        if (!watchdog) continue;
        if (alive && now >= next_ping) {
            apps::sd_notify("WATCHDOG=1");
            next_ping = now + *watchdog;
            alive = false;
        } else if (!warned && now - last_alive > *watchdog) {
            spdlog::error(
                "a reactor thread has not answered for {} ms: not feeding the watchdog",
                std::chrono::duration_cast<std::chrono::milliseconds>(now - last_alive).count());
            warned = true;
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
    return apps::run_guarded(program, [&]() -> int {
        apps::command_line cli(program, about);
        tracker_flags f;
        declare_listeners(cli.app(), f);
        declare_state(cli.app(), f);
        declare_rollout(cli.app(), f);
        cli.app().footer(
            "Exit status: 0 after SIGTERM or SIGINT; 1 when it cannot start (address in use, "
            "bad list or zones file) or the last state file write failed; 2 on a usage error.");
        cli.enable_config();
        if (auto done = cli.parse(argc, argv)) return *done;
        options o;
        try {
            o = options_of(f);
        } catch (const apps::usage_error& e) {
            return cli.refuse(e.what());
        }
        spdlog::set_level(spdlog::level::from_str(o.level));
        return serve(o, signals);
    });
}
