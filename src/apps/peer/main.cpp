// minibit-peer: create and inspect .torrent files (create, info), download (get) and serve
// (seed) a torrent. Thin: the command line (CLI11, apps/common/cli.hpp conventions) is read
// and checked here; torrent_commands and transfer do the work through libminibit.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../common/cli.hpp"
#include "agent_main.hpp"
#include "minibit/io/address.hpp"
#include "minibit/io/worker_pool.hpp"
#include "minibit/swarm/rate_limiter.hpp"
#include "torrent_commands.hpp"
#include "transfer.hpp"

namespace {

namespace apps = minibit::apps;
using minibit::apps::usage_error;

constexpr const char* program = "minibit-peer";

constexpr const char* transfer_footer =
    "stderr: tracker failures and recoveries as they happen, a progress line on a terminal or a "
    "status line every 5 s elsewhere, and one summary line at the end.\n"
    "Environment: SSL_CERT_FILE or CURL_CA_BUNDLE name a PEM file of the authorities trusted "
    "for https:// trackers (default: the system's store).\n";

// --tracker URL for a new torrent: http://, https:// or udp://HOST:PORT.
CLI::Validator tracker_url() {
    return {[](std::string& text) { return apps::tracker_url_problem(text); }, ""};
}

// --peer ADDR:PORT: a numeric address and a port.
CLI::Validator peer_address() {
    return {[](std::string& text) -> std::string {
                auto a = minibit::io::address::parse(text);
                return a ? std::string() : fmt::format("{}: {}", text, a.error().message());
            },
            ""};
}

// A flag whose default is "absent" (nothing shown in --help, nothing in --print-config).
CLI::Option* no_default(CLI::Option* o) {
    return apps::shown_default(o, "");
}

struct create_flags {
    apps::create_request r;
    std::string output;
    CLI::Option *piece_size = nullptr, *pieces = nullptr, *out = nullptr;
};

void declare_create(CLI::App& c, create_flags& f) {
    auto& o = f.r.options;
    apps::add_text(c, "PATH", f.r.source, "PATH", "the file or folder to share")
        ->required()
        ->configurable(false);
    no_default(apps::add_text(c, "--tracker", o.trackers, "URL",
                              "announce URL: http://, https:// or udp://HOST:PORT (repeatable; "
                              "each forms a tier of its own, tried in order, BEP 12)"))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check(tracker_url())
        ->required();
    apps::add_switch(c, "--one-tier", o.one_tier,
                     "put every --tracker in one tier (trackers sharing a swarm: a client keeps "
                     "the first that answers)");
    f.piece_size = no_default(apps::add_count(c, "--piece-size", o.piece_length, 1, 256ULL << 20U,
                                              "piece length", "BYTES"));
    f.pieces = no_default(apps::add_count(c, "--pieces", o.piece_count, 1, 1U << 24U,
                                          "piece count wanted instead of --piece-size"));
    apps::add_text(c, "--comment", o.comment, "TEXT", "the torrent's comment");
    apps::add_switch(c, "--private", o.is_private, "mark the torrent private (BEP 27)");
    f.out = no_default(apps::add_text(c, "-o,--output", f.output, "OUT.torrent",
                                      "where to write the torrent (default: PATH's name + "
                                      ".torrent in the current folder)"));
    apps::add_switch(c, "--json", f.r.json,
                     "print the torrent written as one JSON object (as info --json does)");
}

struct info_flags {
    std::filesystem::path torrent;
    bool json = false;
};

void declare_info(CLI::App& c, info_flags& f) {
    apps::add_text(c, "TORRENT", f.torrent, "FILE.torrent", "the torrent to describe")
        ->required()
        ->configurable(false);
    apps::add_switch(c, "--json", f.json,
                     "print one JSON object: name, info_hash, piece_length, piece_count, "
                     "total_size, private, trackers (tiers), files (path, length), comment, "
                     "created_by, creation_date");
}

// The flags of get and seed.
struct transfer_flags {
    apps::transfer_request r;
    std::string listen = "0.0.0.0", io = "auto", state_dir;
    std::vector<std::string> peers;
    std::uint16_t port = 0;
    std::uint32_t numwant = 50, max_peers = 50, origin_copies = 2;
    std::uint64_t upload_limit = 0;
    bool origin = false, zone_blind = false;
    double linger = 0, timeout = 0, rechoke = 0, request_timeout = 0;
    bool no_tracker = false;
    std::string stats_json, complete_file, log_file, log_level = "warn";
    CLI::Option *linger_opt = nullptr, *timeout_opt = nullptr, *stats_opt = nullptr;
    CLI::Option *complete_opt = nullptr, *log_opt = nullptr, *level_opt = nullptr;
    CLI::Option *state_opt = nullptr, *rechoke_opt = nullptr, *request_timeout_opt = nullptr;
};

void declare_transfer_io(CLI::App& c, transfer_flags& f) {
    apps::add_count(c, "--port", f.port, 0, 65535, "listen port, 0 = any free one");
    apps::add_text(c, "--listen", f.listen, "ADDR", "numeric address to listen on");
    no_default(apps::add_text(c, "--peer", f.peers, "ADDR:PORT",
                              "connect to this peer too (repeatable; works without a tracker)"))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check(peer_address());
    apps::add_switch(c, "--no-tracker", f.no_tracker, "do not announce to the torrent's trackers");
    apps::add_count(c, "--numwant", f.numwant, 0, 1000, "peers to ask the tracker for");
    f.timeout_opt = apps::shown_default(
        apps::add_number(c, "--timeout", f.timeout, 0, 31536000, "S",
                         "give up (exit 1) when not complete after S seconds"),
        "never");
    f.stats_opt = no_default(
        apps::add_text(c, "--stats-json", f.stats_json, "PATH",
                       "write the counters as JSON at exit, and every 0.5 s while running"));
    f.complete_opt = no_default(apps::add_text(
        c, "--complete-file", f.complete_file, "PATH",
        "create PATH (empty) as soon as every piece is verified, while the process keeps "
        "running (lets a supervisor see completion early)"));
    f.state_opt = apps::shown_default(
        apps::add_text(c, "--state-dir", f.state_dir, "DIR",
                       "resume files that cannot live beside the data (seed: always), named "
                       "by info hash"),
        "$XDG_STATE_HOME/minibit, else ~/.local/state/minibit");
}

void declare_transfer_engine(CLI::App& c, transfer_flags& f) {
    f.log_opt = no_default(
        apps::add_text(c, "--log", f.log_file, "PATH", "log to this file (default: stderr)"));
    f.level_opt = apps::shown_default(
        apps::add_choice(c, "--log-level", f.log_level,
                         {"trace", "debug", "info", "warn", "error", "off"}, "log level"),
        "warn; info with --log");
    apps::add_choice(c, "--io", f.io, {"auto", "uring", "epoll"},
                     "reactor back end; auto tries io_uring, then epoll");
    apps::add_count(c, "--threads", f.r.threads, 1, 64,
                    "reactor threads serving the torrent: each has its own connections and "
                    "listener on the shared port (SO_REUSEPORT); pieces are hashed on worker "
                    "threads either way (docs/peer.md)");
    f.rechoke_opt = apps::add_number(c, "--rechoke-interval", f.rechoke, 0.01, 86400, "S",
                                     "seconds between choke decisions");
    apps::shown_default(f.rechoke_opt, "adaptive: ~40 round trips, 1-10 s");
    apps::add_count(c, "--max-peers", f.max_peers, 1, 10000,
                    "connections at most (half of them dialled, half kept for peers that dial us)");
    f.request_timeout_opt = apps::add_number(
        c, "--request-timeout", f.request_timeout, 0.1, 86400, "S",
        "seconds without a block before a peer's requests go to other peers");
    apps::shown_default(f.request_timeout_opt, "adaptive per peer: block round trips, 2-20 s");
    apps::shown_default(
        apps::add_count(c, "--upload-limit", f.upload_limit, 0, 1ULL << 40U,
                        "cap payload upload at BYTES per second (an emulated uplink)", "BYTES"),
        "0: none");
    apps::add_switch(c, "--zone-blind", f.zone_blind,
                     "treat every peer alike (default: a peer in the same /24 or /64 as us is in "
                     "our zone, and pieces an in-zone peer has are not fetched from outside)");
}

// The origin policy: for `seed`, and for a `get` whose data is complete when it starts.
void declare_origin(CLI::App& c, transfer_flags& f) {
    apps::add_switch(c, "--origin", f.origin,
                     "when seeding from the start: upload each piece about once (show each "
                     "peer a few pieces at a time by HAVE, every piece once before any twice, "
                     "none that --origin-copies peers hold unless a peer starves); stock "
                     "clients need nothing special");
    apps::add_count(c, "--origin-copies", f.origin_copies, 1, 1000,
                    "with --origin: copies in the swarm after which a piece is only served to "
                    "a peer that starves",
                    "K");
}

void declare_get(CLI::App& c, transfer_flags& f) {
    apps::add_text(c, "TORRENT", f.r.torrent, "FILE.torrent", "the torrent to download")
        ->required()
        ->configurable(false);
    f.r.folder = ".";
    apps::add_text(c, "-o,--output", f.r.folder, "DIR",
                   "download into DIR (created if missing; its parent must exist): DIR/NAME, "
                   "or DIR/NAME/<path> for a multi-file torrent");
    f.linger_opt = apps::add_number(c, "--seed-for", f.linger, 0, 31536000, "S",
                                    "keep seeding S seconds after completing");
    declare_transfer_io(c, f);
    declare_transfer_engine(c, f);
    declare_origin(c, f);
}

void declare_seed(CLI::App& c, transfer_flags& f) {
    apps::add_text(c, "TORRENT", f.r.torrent, "FILE.torrent", "the torrent to serve")
        ->required()
        ->configurable(false);
    apps::add_text(c, "DATA_PATH", f.r.folder, "DATA_PATH",
                   "the folder that holds the torrent's file or top folder NAME (or that file "
                   "or folder itself)")
        ->required()
        ->configurable(false);
    f.linger_opt = apps::shown_default(
        apps::add_number(c, "--for", f.linger, 0, 31536000, "S", "stop after S seconds"),
        "until SIGTERM or SIGINT");
    declare_transfer_io(c, f);
    declare_transfer_engine(c, f);
    declare_origin(c, f);
}

// --state-dir, else $XDG_STATE_HOME/minibit (absolute only, as the XDG spec says), else
// $HOME/.local/state/minibit; empty without any (no resume file where it cannot go beside the
// data: the next start verifies by hashing).
std::filesystem::path state_dir(const transfer_flags& f) {
    if (apps::given(f.state_opt)) {
        if (f.state_dir.empty()) throw usage_error("--state-dir needs a folder");
        return f.state_dir;
    }
    const char* xdg = std::getenv("XDG_STATE_HOME");
    if (xdg != nullptr && xdg[0] == '/') return std::filesystem::path(xdg) / "minibit";
    const char* home = std::getenv("HOME");
    if (home != nullptr && home[0] != '\0')
        return std::filesystem::path(home) / ".local" / "state" / "minibit";
    return {};
}

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

// The checked flags as the transfer's request.
apps::transfer_request request_of(transfer_flags& f) {
    auto r = f.r;
    auto& o = r.session;
    o.port = f.port;
    o.listen_host = f.listen;
    for (const auto& text : f.peers) o.peers.push_back(*minibit::io::address::parse(text));
    o.trackers = f.no_tracker ? minibit::swarm::use_trackers::no
                              : minibit::swarm::use_trackers::yes;
    o.tracker.numwant = f.numwant;
    if (apps::given(f.rechoke_opt)) {
        o.torrent.rechoke_interval = to_ms(f.rechoke);
        o.torrent.tick_interval = std::min(o.torrent.tick_interval, o.torrent.rechoke_interval);
    }
    if (apps::given(f.request_timeout_opt)) o.torrent.request_timeout = to_ms(f.request_timeout);
    o.torrent.max_peers = f.max_peers;
    o.torrent.zone_aware = !f.zone_blind;
    if (f.upload_limit > 0) {
        auto limits = std::make_shared<minibit::swarm::transfer_limits>();
        limits->upload[0] = std::make_shared<minibit::swarm::rate_limiter>(f.upload_limit);
        o.torrent.limits = std::move(limits);
    }
    if (f.origin) o.torrent.seeding = minibit::swarm::seed_policy::origin;
    o.torrent.origin_copies = f.origin_copies;
    o.torrent.hashing = std::make_shared<minibit::io::worker_pool>();  // one per core
    o.store.state_dir = state_dir(f);
    if (apps::given(f.linger_opt)) r.linger_seconds = f.linger;
    if (apps::given(f.timeout_opt)) r.timeout_seconds = f.timeout;
    if (apps::given(f.stats_opt)) r.stats_json = f.stats_json;
    if (apps::given(f.complete_opt)) r.complete_file = f.complete_file;
    if (apps::given(f.log_opt)) r.log_file = f.log_file;
    r.log_level = apps::given(f.level_opt) ? f.log_level : (r.log_file ? "info" : "warn");
    r.backend = *minibit::io::parse_backend_kind(f.io);
    return r;
}

constexpr const char* get_about =
    "Downloads the torrent into DIR, verifies every piece with SHA-1 and exits 0 when complete "
    "(after seeding --seed-for seconds). A single-file torrent becomes DIR/NAME; a multi-file "
    "torrent's NAME is its top folder, so its files go to DIR/NAME/<path> (BEP 3, as in "
    "libtorrent and Transmission). Only the torrent's own files inside DIR are created or "
    "grown, never through a symbolic link; nothing is truncated. Restarting on a partial "
    "download keeps the verified pieces (resume file beside the data). A get that ends with an "
    "error before any piece verified removes what it created.";
constexpr const char* seed_about =
    "Serves a complete copy, read-only: nothing in DATA_PATH is created, written or resized, so "
    "read-only files, mounts and other users' readable files can be seeded. DATA_PATH is the "
    "save path, as in libtorrent: the folder that holds the torrent's file (single-file) or its "
    "top folder NAME (multi-file: files are read from DATA_PATH/NAME/<path>, where get -o "
    "DATA_PATH puts them); the single file itself or the top folder itself is accepted too. A "
    "missing file or one of the wrong size is refused (exit 1). The data is verified at start; "
    "the resume file in the state folder (or one a get left beside the data) makes that fast.";
constexpr const char* create_about =
    "Hashes a file or a folder (multi-file torrent) and writes a .torrent file. Prints the info "
    "hash in hex as the last line (or, with --json, the torrent as one JSON object). Several "
    "trackers form one tier each (BEP 12: tried in order); --one-tier puts them in one tier.";
constexpr const char* info_about =
    "Prints the torrent's name, total size, piece length, piece count, files, trackers and info "
    "hash (or, with --json, one JSON object). Each file's path is where get -o DIR puts it, "
    "relative to DIR (NAME/<path> for a multi-file torrent).";

int run(int argc, char** argv) {
    // The host agent and the verbs that drive it parse their own command lines (agent_main).
    if (argc >= 2 && apps::is_agent_command(argv[1])) return apps::run_agent_command(argc, argv);
    apps::command_line cli(program, "Creates, inspects, downloads and seeds BitTorrent torrents.");
    create_flags cf;
    auto& create = cli.add_command("create", create_about);
    declare_create(create, cf);
    info_flags inf;
    auto& info = cli.add_command("info", info_about);
    declare_info(info, inf);
    transfer_flags gf;
    auto& get = cli.add_command("get", get_about);
    declare_get(get, gf);
    get.footer(std::string(transfer_footer) +
               "Exit status: 0 when complete; 1 on a runtime error or --timeout; 2 on a usage "
               "error.");
    transfer_flags sf;
    auto& seed = cli.add_command("seed", seed_about);
    declare_seed(seed, sf);
    seed.footer(std::string(transfer_footer) +
                "Exit status: 0 after --for or SIGTERM; 1 on a runtime error (incomplete or "
                "missing data); 2 on a usage error.");
    cli.app().footer(
        "Host agent: agent (run it), add, list, status, pause, resume, remove, wait (drive it; "
        "each has --help; docs/agent.md).\n"
        "Exit status: 0 on success, 1 on a runtime error (bad file, I/O), 2 on a "
        "usage error.");
    cli.enable_config();
    if (auto done = cli.parse(argc, argv)) return *done;
    const CLI::App* chosen = cli.command();
    try {
        if (chosen == &create) {
            if (apps::given(cf.piece_size) && apps::given(cf.pieces))
                throw usage_error("give --piece-size or --pieces, not both");
            if (apps::given(cf.out)) cf.r.output = cf.output;
            return apps::create_command(cf.r);
        }
        if (chosen == &info) return apps::info_command(inf.torrent, inf.json);
        auto request = request_of(chosen == &seed ? sf : gf);
        request.seed_mode = chosen == &seed;
        return apps::transfer(request);
    } catch (const usage_error& e) {
        return cli.refuse(e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    return apps::run_guarded(program, [&] { return run(argc, argv); });
}
