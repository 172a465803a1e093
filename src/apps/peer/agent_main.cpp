// minibit-peer agent | add | list | status | pause | resume | remove | wait: the flags of each
// (CLI11, apps/common/cli.hpp), then the agent part does the work (run_daemon) or the verb
// sends one request to the agent's control socket and prints the answer.
#include "agent_main.hpp"

#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "../common/cli.hpp"
#include "../tracker/sd_notify.hpp"
#include "minibit/agent/control_client.hpp"
#include "minibit/agent/daemon.hpp"
#include "minibit/core/human_units.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/core/small_file.hpp"
#include "minibit/io/reactor.hpp"
#include "rollout_wait.hpp"

namespace minibit::apps {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::array<std::string_view, 8> verbs = {"agent", "add",    "list",   "status",
                                                   "pause", "resume", "remove", "wait"};

/// What the verbs share.
struct verb_flags {
    std::string socket = agent::default_socket_path().string();
    std::string hash;
    std::string torrent;
    std::string out;
    bool json = false;
    bool delete_data = false;
    double timeout = 0;
    // wait's tracker form
    std::string tracker;
    std::string info_hash;
    std::string token_file;
    std::uint32_t complete = 0;
    double poll = 1.0;
};

struct agent_flags {
    std::string state_dir = agent::default_state_dir().string();
    std::string download_dir = agent::default_download_dir().string();
    std::string listen = "0.0.0.0:6881";
    std::string watch;
    std::string io = "auto";
    unsigned hashing_threads = 0;
    unsigned threads = 0;
    double rechoke = 0;  ///< 0: adaptive
    std::string max_upload = "0";
    std::string max_download = "0";
    std::string api;
    std::string api_token_file;
    std::string metrics;
    std::uint32_t max_connections = 0;
    std::uint32_t max_connections_per_torrent = 50;
    std::uint64_t seed_seconds = 0;
    double seed_ratio = 0;
    std::uint32_t seed_min_seeders = 0;
    double scrape_interval = 60;
    std::string socket_group;
    std::string log_level = "info";
};

/// A rate flag ("4MiB", "500kB", bytes per second); a usage error otherwise.
std::uint64_t rate_flag(const std::string& flag, const std::string& value) {
    auto r = parse_bytes(value);
    if (!r) {
        throw usage_error(
            fmt::format("{}: '{}' is not a rate (e.g. 4MiB, 500kB, 1048576)", flag, value));
    }
    return *r;
}

[[noreturn]] void runtime_fail(const std::string& why) {
    throw std::runtime_error(why);
}

/// One request; a missing agent or a transport failure ends the program with one line.
agent::control_reply ask(const verb_flags& f, std::string_view method, const std::string& target,
                         std::string_view type = {}, std::string_view body = {}) {
    auto reply = agent::call_agent(f.socket, method, target, type, body);
    if (!reply) runtime_fail(reply.error().reason);
    return *reply;
}

/// The reply's JSON; a non-2xx status ends the program with the agent's error line.
json expect_ok(const agent::control_reply& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (r.status >= 200 && r.status < 300 && !j.is_discarded()) return j;
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string()) {
        runtime_fail(fmt::format("agent: {} (HTTP {})", j["error"].get<std::string>(), r.status));
    }
    runtime_fail(fmt::format("agent answered HTTP {}", r.status));
}

std::string percent(const json& t) {
    return fmt::format("{:.1f}%", t.value("progress", 0.0) * 100.0);
}

void print_torrent(const json& t) {
    for (const auto& key :
         {"info_hash", "name", "state", "progress", "pieces_have", "piece_count", "total_bytes",
          "bytes_left", "bytes_downloaded", "bytes_uploaded", "download_rate", "upload_rate",
          "peers", "data_dir", "content_path", "eta_seconds", "error", "tracker_error"}) {
        if (!t.contains(key) || t[key].is_null()) continue;
        const auto& v = t[key];
        fmt::print("{}: {}\n", key, v.is_string() ? v.get<std::string>() : v.dump());
    }
}

int verb_add(const verb_flags& f) {
    auto torrent = read_torrent_file(f.torrent);
    if (!torrent) runtime_fail(torrent.error().reason);
    std::string target = "/v1/torrents";
    if (!f.out.empty()) {
        target += "?data_dir=" + agent::url_encode(fs::absolute(f.out).lexically_normal().string());
    }
    const auto t = expect_ok(ask(f, "POST", target, "application/x-bittorrent", *torrent));
    fmt::print("added {} into {} ({})\n", t.value("name", ""), t.value("data_dir", ""),
               t.value("state", ""));
    fmt::print("{}\n", t.value("info_hash", ""));
    return exit_ok;
}

int verb_list(const verb_flags& f) {
    const auto r = ask(f, "GET", "/v1/torrents");
    const auto j = expect_ok(r);
    if (f.json) {
        fmt::print("{}\n", r.body);
        return exit_ok;
    }
    for (const auto& t : j["torrents"]) {
        fmt::print("{} {:<11} {:>6} {}\n", t.value("info_hash", ""), t.value("state", ""),
                   percent(t), t.value("name", ""));
    }
    return exit_ok;
}

int verb_one(const verb_flags& f, std::string_view verb) {
    const std::string base = "/v1/torrents/" + agent::url_encode(f.hash);
    if (verb == "status") {
        const auto r = ask(f, "GET", base);
        const auto t = expect_ok(r);
        if (f.json) {
            fmt::print("{}\n", r.body);
        } else {
            print_torrent(t);
        }
        return exit_ok;
    }
    if (verb == "remove") {
        const auto t = expect_ok(ask(f, "DELETE", base + (f.delete_data ? "?delete_data=1" : "")));
        fmt::print("removed {}{}\n", f.hash, f.delete_data ? " and its files" : "");
        return exit_ok;
    }
    const auto t = expect_ok(ask(f, "POST", base + "/" + std::string(verb)));
    fmt::print("{} {}\n", t.value("info_hash", ""), t.value("state", ""));
    return exit_ok;
}

/// What an event or the torrent's state means for `wait`: exit 0, fail, or keep waiting.
int wait_outcome(const verb_flags& f, std::string_view kind, const json& t) {
    if (kind == "seeding" || kind == "completed" || kind == "finished") {
        fmt::print("{} complete\n", f.hash);
        return exit_ok;
    }
    if (kind == "error") {
        runtime_fail(fmt::format(
            "torrent {} failed: {}", f.hash,
            t.contains("error") && t["error"].is_string() ? t["error"].get<std::string>() : "?"));
    }
    if (kind == "removed") runtime_fail(fmt::format("torrent {} was removed", f.hash));
    return -1;
}

int verb_wait(const verb_flags& f) {
    using clock = std::chrono::steady_clock;
    const auto deadline = f.timeout > 0
                              ? clock::now() +
                                    std::chrono::milliseconds(std::int64_t(f.timeout * 1000))
                              : clock::time_point::max();
    const std::string target = "/v1/torrents/" + agent::url_encode(f.hash);
    // Subscribe first, then look: a completion between the two is not missed.
    auto stream = agent::event_stream::open(f.socket,
                                            "/v1/events?info_hash=" + agent::url_encode(f.hash));
    if (!stream) runtime_fail(stream.error().reason);
    const auto now = expect_ok(ask(f, "GET", target));
    if (int done = wait_outcome(f, now.value("state", ""), now); done >= 0) return done;
    while (true) {
        auto ev = (*stream)->next(deadline);
        if (!ev && is(ev.error(), agent::client_errc::timeout)) {
            const auto t = expect_ok(ask(f, "GET", target));
            runtime_fail(fmt::format("timeout: torrent {} is {} at {}", f.hash,
                                     t.value("state", ""), percent(t)));
        }
        if (!ev) runtime_fail(ev.error().reason);
        const auto data = json::parse(ev->data, nullptr, false);
        if (int done = wait_outcome(f, ev->kind, data.is_discarded() ? json::object() : data);
            done >= 0) {
            return done;
        }
    }
}

/// The agent's settings from its flags; a usage_error for a bad value.
agent::agent_options settings_of(const agent_flags& f) {
    agent::agent_options s;
    s.state_dir = f.state_dir;
    s.download_dir = f.download_dir;
    s.listen = f.listen;
    s.watch_dir = f.watch;
    s.hashing_threads = f.hashing_threads;
    s.caps = {rate_flag("--max-upload", f.max_upload), rate_flag("--max-download", f.max_download)};
    s.torrent.rechoke_interval = std::chrono::milliseconds(  // 0: adaptive
        static_cast<std::int64_t>(f.rechoke * 1000));
    s.torrent.max_peers = f.max_connections_per_torrent;
    s.max_connections = f.max_connections;
    if (f.seed_seconds != 0) s.seed.seconds = f.seed_seconds;
    if (f.seed_ratio > 0) s.seed.ratio = f.seed_ratio;
    if (f.seed_min_seeders != 0) s.seed.min_seeders = f.seed_min_seeders;
    s.scrape_interval = std::chrono::seconds(static_cast<std::int64_t>(f.scrape_interval));
    auto kind = io::parse_backend_kind(f.io);
    if (!kind) throw usage_error(kind.error().reason);
    s.backend = *kind;
    return s;
}

void apply_log_level(const std::string& level) {
    spdlog::set_level(spdlog::level::from_str(level));
}

/// SIGHUP: the command line read again (so the config file it names is read again); settings
/// of the process itself (socket, TCP listeners) are reported as taking a restart, once.
std::function<result<agent::agent_options>()> reloader(
    std::vector<std::string> args, agent_flags first, std::string first_socket,
    std::function<void(command_line&, agent_flags&, verb_flags&)> declare) {
    auto told = std::make_shared<std::set<std::string>>();
    return [args = std::move(args), first = std::move(first),
            first_socket = std::move(first_socket), declare = std::move(declare),
            told]() -> result<agent::agent_options> {
        command_line cli("minibit-peer", "The MiniBit host agent and its control verbs.");
        agent_flags af;
        verb_flags vf;
        declare(cli, af, vf);
        std::vector<const char*> argv;
        for (const auto& a : args) argv.push_back(a.c_str());
        if (cli.parse(static_cast<int>(argv.size()), argv.data())) {
            return fail(agent::agent_errc::bad_request,
                        "the command line or its config file does not read (see the line above)");
        }
        try {
            auto next = settings_of(af);
            apply_log_level(af.log_level);
            for (const auto& [name, changed] :
                 {std::pair{"socket", vf.socket != first_socket},
                  std::pair{"threads", af.threads != first.threads},
                  std::pair{"socket-group", af.socket_group != first.socket_group},
                  std::pair{"api",
                            af.api != first.api || af.api_token_file != first.api_token_file},
                  std::pair{"metrics", af.metrics != first.metrics}}) {
                const auto line = fmt::format("{} changed: needs a restart", name);
                if (changed && told->insert(line).second) spdlog::warn("reload: {}", line);
            }
            return next;
        } catch (const std::exception& e) {
            return fail(agent::agent_errc::bad_request, e.what());
        }
    };
}

int run_daemon_command(const agent_flags& f, const std::string& socket,
                       std::function<result<agent::agent_options>()> reload) {
    agent::daemon_options o;
    o.settings = settings_of(f);
    o.threads = f.threads;
    apply_log_level(f.log_level);
    o.reload = std::move(reload);
    o.socket_group = f.socket_group;
    o.socket_path = fs::absolute(socket);
    if (!f.api.empty() && f.api_token_file.empty())
        throw usage_error("--api needs --api-token-file");
    o.api_address = f.api;
    o.api_token_file = f.api_token_file;
    o.metrics_address = f.metrics;
    o.on_ready = [](const agent::agent&) { sd_notify("READY=1"); };
    if (watchdog_period()) {
        o.on_tick = [] { sd_notify("WATCHDOG=1"); };
    }
    auto ran = agent::run_daemon(std::move(o));
    if (!ran) runtime_fail(ran.error().message());
    return exit_ok;
}

void declare_socket(CLI::App& c, verb_flags& f) {
    add_text(c, "--socket", f.socket, "PATH", "the agent's control socket");
}

void declare_hash(CLI::App& c, verb_flags& f) {
    describe(c.add_option("info_hash", f.hash)->required(), "INFO_HASH",
             "the torrent's info hash (40 hex characters)");
    declare_socket(c, f);
}

void declare_tracker_wait(CLI::App& c, verb_flags& f) {
    add_text(c, "--tracker", f.tracker, "URL",
             "ask this tracker instead of the agent: its announce URL or base URL");
    add_text(c, "--info-hash", f.info_hash, "HEX", "with --tracker: the torrent (40 hex digits)");
    add_count(c, "--complete", f.complete, 1, 100000000,
              "with --tracker: exit 0 once N hosts completed the torrent", "N");
    add_number(c, "--poll", f.poll, 0.05, 3600, "S", "with --tracker: seconds between polls");
    add_text(c, "--token-file", f.token_file, "FILE",
             "with --tracker: bearer token for a tracker with --protect-reads");
}

/// `wait --tracker URL --info-hash HEX --complete N`; usage errors exit 2.
int tracker_wait(const verb_flags& f) {
    rollout_wait_options o;
    o.tracker = f.tracker;
    o.hash = f.info_hash.empty() ? f.hash : f.info_hash;
    if (o.tracker.empty()) throw usage_error("wait: --info-hash and --complete need --tracker");
    if (!o.tracker.starts_with("http://") && !o.tracker.starts_with("https://")) {
        throw usage_error("wait: --tracker must be an http:// or https:// URL");
    }
    if (o.hash.empty() || !sha1_digest::from_hex(o.hash)) {
        throw usage_error("wait: --info-hash must be 40 hex digits");
    }
    if (f.complete == 0) throw usage_error("wait: --tracker needs --complete N");
    for (auto& ch : o.hash) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    o.complete = f.complete;
    o.timeout = f.timeout;
    o.poll_interval = f.poll;
    if (!f.token_file.empty()) {
        auto token = read_first_line(f.token_file);
        if (!token) throw usage_error("wait: cannot read --token-file " + token.error().reason);
        o.token = std::move(*token);
    }
    return wait_for_rollout(o);
}

void declare_limits(CLI::App& ag, agent_flags& af) {
    add_count(ag, "--max-connections", af.max_connections, 0, 1000000,
              "peer connections at most over every torrent, in and out (0: no limit)");
    add_count(ag, "--max-connections-per-torrent", af.max_connections_per_torrent, 1, 65535,
              "peer connections at most per torrent (a torrent may set its own)");
    add_count(ag, "--seed-seconds", af.seed_seconds, 0, std::uint64_t{1} << 40U,
              "default seed goal: stop seeding after S seconds complete (0: off)", "S");
    add_number(ag, "--seed-ratio", af.seed_ratio, 0, 1e6, "R",
               "default seed goal: stop at uploaded / size >= R (0: off)");
    add_count(ag, "--seed-min-seeders", af.seed_min_seeders, 0, 1U << 20U,
              "default seed goal: stop once the tracker's scrape counts K seeders (0: off)", "K");
    add_number(ag, "--scrape-interval", af.scrape_interval, 1, 86400, "S",
               "seconds between scrapes for min_seeders goals");
    add_text(ag, "--socket-group", af.socket_group, "NAME",
             "group of the control socket (mode 0660); it must exist");
    add_choice(ag, "--log-level", af.log_level, {"trace", "debug", "info", "warn", "error", "off"},
               "log level");
}

void declare_all(command_line& cli, agent_flags& af, verb_flags& vf) {
    auto& ag = cli.add_command("agent",
                               "Run the host agent: many torrents, one peer port, a "
                               "control API on a Unix socket.");
    add_text(ag, "--state-dir", af.state_dir, "DIR", "state folder (torrent list, resume data)");
    add_text(ag, "--download-dir", af.download_dir, "DIR",
             "default data folder; every data path must lie inside it");
    add_text(ag, "--socket", vf.socket, "PATH", "control socket (created mode 0660)");
    add_text(ag, "--watch", af.watch, "DIR",
             ".torrent files appearing here are added; removed ones stop their torrent");
    add_text(ag, "--listen", af.listen, "ADDR:PORT", "BitTorrent listen address for all torrents");
    add_choice(ag, "--io", af.io, {"auto", "uring", "epoll"}, "I/O back end");
    add_count(
        ag, "--threads", af.threads, 0, 64,
        "reactor threads the torrents are spread over (0: one per CPU of the process affinity)");
    add_count(ag, "--hashing-threads", af.hashing_threads, 0, 256,
              "piece hashing threads (0: one per CPU of the process affinity)");
    shown_default(add_number(ag, "--rechoke-interval", af.rechoke, 0.05, 3600, "S",
                             "seconds between choke decisions"),
                  "adaptive: ~40 round trips, 1-10 s");
    add_text(ag, "--max-upload", af.max_upload, "RATE",
             "upload cap for all torrents, bytes per second (4MiB, 500kB; 0: none)");
    add_text(ag, "--max-download", af.max_download, "RATE",
             "download cap for all torrents, bytes per second (0: none)");
    add_text(ag, "--api", af.api, "ADDR:PORT",
             "also serve the control API on TCP (needs --api-token-file)");
    add_text(ag, "--api-token-file", af.api_token_file, "FILE",
             "bearer token every TCP API request must carry (first line, 16+ characters)");
    add_text(ag, "--metrics", af.metrics, "ADDR:PORT",
             "serve GET /metrics (Prometheus text, read-only) on TCP");
    auto& add = cli.add_command("add", "Add a .torrent to the agent.");
    describe(add.add_option("torrent", vf.torrent)->required(), "FILE.torrent", "the torrent");
    add_text(add, "-o,--output", vf.out, "DIR", "data folder (default: the agent's)");
    declare_socket(add, vf);
    auto& list = cli.add_command("list", "List the agent's torrents.");
    add_switch(list, "--json", vf.json, "print the API's JSON");
    declare_socket(list, vf);
    auto& status = cli.add_command("status", "Show one torrent.");
    declare_hash(status, vf);
    add_switch(status, "--json", vf.json, "print the API's JSON");
    auto& pause = cli.add_command("pause", "Pause a torrent.");
    declare_hash(pause, vf);
    auto& resume = cli.add_command("resume", "Resume a paused torrent.");
    declare_hash(resume, vf);
    auto& remove = cli.add_command("remove", "Remove a torrent (its data stays).");
    declare_hash(remove, vf);
    add_switch(remove, "--delete-data", vf.delete_data, "also delete the torrent's files");
    auto& wait = cli.add_command(
        "wait",
        "Wait until a torrent is complete in the agent (exit 0), or fails or times out (exit "
        "1); or, with --tracker, until N hosts completed it (a rollout barrier).");
    describe(wait.add_option("info_hash", vf.hash), "INFO_HASH",
             "the torrent's info hash (40 hex characters)");
    declare_socket(wait, vf);
    add_number(wait, "--timeout", vf.timeout, 0, 31536000, "S",
               "give up after S seconds (0: never)");
    declare_tracker_wait(wait, vf);
    declare_limits(ag, af);
    cli.enable_config();
}

int run(int argc, char** argv) {
    command_line cli("minibit-peer", "The MiniBit host agent and its control verbs.");
    agent_flags af;
    verb_flags vf;
    declare_all(cli, af, vf);
    if (auto done = cli.parse(argc, argv)) return *done;
    const std::string verb = cli.command()->get_name();
    if (verb == "agent") {
        return run_daemon_command(
            af, vf.socket,
            reloader(std::vector<std::string>(argv, argv + argc), af, vf.socket, declare_all));
    }
    if (verb == "add") return verb_add(vf);
    if (verb == "list") return verb_list(vf);
    if (verb == "wait") {
        if (!vf.tracker.empty() || !vf.info_hash.empty() || vf.complete != 0) {
            return tracker_wait(vf);
        }
        if (vf.hash.empty()) throw usage_error("wait: give INFO_HASH, or --tracker URL");
        return verb_wait(vf);
    }
    return verb_one(vf, verb);
}

}  // namespace

bool is_agent_command(std::string_view command) {
    return std::find(verbs.begin(), verbs.end(), command) != verbs.end();
}

int run_agent_command(int argc, char** argv) {
    return run_guarded("minibit-peer", [&] { return run(argc, argv); });
}

}  // namespace minibit::apps
