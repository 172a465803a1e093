// The host agent: one long-running peer holding many torrents on one or more reactor threads.
// Owns the torrents (a peer-engine session each, run by one of its shards: the reactor threads,
// torrents spread over them by count; all behind one shared listen port: the handshake's info
// hash picks the torrent and its shard), the state folder (each torrent's .torrent and settings,
// written atomically, reloaded at start) and the path rules for what clients may name. The
// control API (control_server) and the CLI verbs drive it. The agent itself lives on its home
// reactor's thread and is used only there; it asks a shard for fresh figures of its sessions
// (waiting for it) whenever the API reads, and posts to shards for everything else (a session's
// connection limit); rate caps and the connection budget are atomics every shard shares.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minibit/agent/seed_policy.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/rate_limiter.hpp"
#include "minibit/swarm/session.hpp"

namespace minibit::io {
class worker_pool;
}  // namespace minibit::io
namespace minibit::swarm {
class connection_budget;
class scrape_client;
}  // namespace minibit::swarm

namespace minibit::agent {

/// What went wrong with a request to the agent; each maps to one HTTP status.
enum class agent_errc {
    bad_request = 1,  ///< malformed request (bad JSON, unknown field, bad hash): 400
    bad_torrent,      ///< the .torrent bytes do not parse: 400
    bad_path,         ///< a path outside the download roots, or unusable: 400
    not_found,        ///< no torrent with that info hash: 404
    duplicate,        ///< the torrent is already present: 409
    busy,             ///< the torrent is being removed: 409
    storage,          ///< its data cannot be opened or written: 500
    state,            ///< the state folder cannot be written: 500
};
[[nodiscard]] constexpr std::string_view error_domain(agent_errc) {
    return "agent";
}

/// Rate caps in bytes per second (0: none).
struct rate_caps {
    std::uint64_t upload = 0;
    std::uint64_t download = 0;
    bool operator==(const rate_caps&) const = default;
};

/// Settings of an agent (flags and config file).
struct agent_options {
    std::filesystem::path state_dir;      ///< torrents/ (the list), resume/
    std::filesystem::path download_dir;   ///< the default data folder and the download root
    std::filesystem::path watch_dir;      ///< .torrent files dropped here are added (empty: off)
    std::string listen = "0.0.0.0:6881";  ///< ADDR:PORT of the shared BitTorrent listener
    io::backend_kind backend = io::backend_kind::auto_select;
    swarm::torrent_options torrent;
    swarm::tracker_options tracker;
    unsigned hashing_threads = 0;  ///< piece hashing threads shared by all torrents; 0 = cores
    rate_caps caps;                ///< global caps at start (changeable through the API)
    /// Connections at most over every torrent, in and out (0: no limit); the per-torrent
    /// default is torrent.max_peers.
    std::uint32_t max_connections = 0;
    seed_policy seed;  ///< the goal of torrents without one of their own (default: forever)
    std::chrono::seconds scrape_interval{60};  ///< min_seeders goals: seconds between scrapes
};

/// Where a torrent is in its life, as the API reports it.
enum class torrent_state { checking, downloading, seeding, paused, error, removing, finished };

/// "checking", "downloading", ...
[[nodiscard]] std::string_view to_string(torrent_state s);

/// One torrent as the API reports it.
struct torrent_view {
    info_hash hash;
    std::string name;
    torrent_state state = torrent_state::checking;
    std::filesystem::path data_dir;
    std::uint32_t pieces_have = 0;
    std::uint32_t piece_count = 0;
    std::uint64_t total_bytes = 0;
    std::uint64_t bytes_left = 0;
    std::uint64_t bytes_downloaded = 0;  ///< payload, this run
    std::uint64_t bytes_uploaded = 0;    ///< payload, this run
    double download_rate = 0.0;          ///< bytes per second
    double upload_rate = 0.0;
    std::uint32_t peers = 0;
    std::string error;  ///< why it stopped, when state is error
    std::string tracker_error;
    rate_caps caps;                    ///< this torrent's own caps (the global ones apply as well)
    seed_policy seed;                  ///< the goal in effect
    bool seed_default = true;          ///< the goal is the agent's default (none of its own)
    std::uint64_t seeded_seconds = 0;  ///< time complete and seeding, every run
    std::uint64_t uploaded_total = 0;  ///< payload uploaded, every run (the ratio's numerator)
    std::optional<std::uint32_t> scrape_seeders;  ///< the last scrape's seeders
    std::string finished;                         ///< why seeding ended (state finished)
    std::uint32_t max_connections = 0;            ///< in effect for this torrent
    bool read_only = false;                       ///< its data is open read-only (seeding)
    bool operator==(const torrent_view&) const = default;
};

/// What POST /v1/torrents asks for: the .torrent's bytes or a path to it, and where its data
/// goes (default: the agent's download folder).
struct add_request {
    std::string torrent_bytes;
    std::optional<std::filesystem::path> torrent_path;
    std::optional<std::filesystem::path> data_dir;
    bool paused = false;
    std::optional<seed_policy> seed;    ///< none: the agent's default goal
    std::uint32_t max_connections = 0;  ///< 0: the agent's per-torrent default
};

/// Agent-wide figures for GET /v1/status.
struct agent_status {
    std::chrono::seconds uptime{0};
    std::uint16_t port = 0;
    std::size_t torrents = 0;
    std::size_t active = 0;
    std::uint64_t bytes_downloaded = 0;
    std::uint64_t bytes_uploaded = 0;
    std::uint32_t peers = 0;
    std::size_t routed_connections = 0;   ///< incoming connections handed to a torrent
    std::size_t refused_connections = 0;  ///< unknown torrent, bad handshake, too slow
    rate_caps caps;                       ///< the global caps now
    std::uint32_t connections = 0;        ///< open or being dialled, every torrent
    std::uint32_t max_connections = 0;    ///< global limit (0: none)
    std::uint32_t max_connections_per_torrent = 0;
    std::uint64_t refused_for_limit = 0;  ///< connections refused at a connection limit
};

/// Something that happened to a torrent, for GET /v1/events.
struct agent_event {
    std::string_view kind;  ///< added, progress, completed, error, paused, resumed, removed
    info_hash hash;
    std::uint32_t pieces_have = 0;
    std::uint32_t piece_count = 0;
    std::string error;   ///< for kind "error"
    std::string reason;  ///< for kind "finished": which goal was met
};

/// Receives events on the reactor thread; may unsubscribe itself (or others) from the call.
using event_fn = std::function<void(const agent_event&)>;
/// Turns a torrent into its API text (the agent caches the text until the torrent changes).
using render_fn = std::function<std::string(const torrent_view&)>;

class peer_router;
class shard;
class shard_link;
struct torrent_figures;
class state_store;
class watch_folder;

/// Many torrents behind one listen port, with their state folder.
class agent {
public:
    /// Creates the state folder, binds the shared listener and loads the saved torrents
    /// (a corrupt entry is reported and set aside; the others load). Torrents run on `shards`
    /// (each on its own reactor thread, all outliving the agent's use of them); none: on a
    /// shard of the agent's own on `home`. Call on home's thread.
    [[nodiscard]] static result<std::unique_ptr<agent>> open(
        io::reactor& home, agent_options options, const std::vector<shard*>& shards = {});
    agent(const agent&) = delete;
    agent& operator=(const agent&) = delete;
    ~agent();

    /// Adds a torrent, saves it to the state folder and starts it (unless paused).
    [[nodiscard]] result<torrent_view> add(const add_request& request);
    /// Every torrent, ordered by info hash.
    [[nodiscard]] std::vector<torrent_view> list() const;
    /// Every torrent's text by `render`, in info hash order, joined by `separator`; a torrent's
    /// text is made again only when its view changed since the last call.
    [[nodiscard]] std::string render_all(const render_fn& render, std::string_view separator) const;
    /// One torrent.
    [[nodiscard]] result<torrent_view> find(const info_hash& hash) const;
    /// Stops a torrent's transfers (its data and resume record stay); remembered across restarts.
    [[nodiscard]] result<torrent_view> pause(const info_hash& hash);
    /// Starts a paused (or failed) torrent again.
    [[nodiscard]] result<torrent_view> resume(const info_hash& hash);
    /// Stops and forgets a torrent (and deletes its files when asked); `done` runs once it is
    /// gone (after the stopped announce, at most a few seconds). Errors come back at once.
    [[nodiscard]] result<void> remove(const info_hash& hash, bool delete_data,
                                      std::function<void(result<void>)> done);
    /// Agent-wide figures.
    [[nodiscard]] agent_status status() const;
    /// The global rate caps.
    [[nodiscard]] rate_caps caps() const;
    /// Changes the global rate caps at once, for every torrent (not saved: the flags or the
    /// config file give them at the next start).
    void set_caps(rate_caps caps);
    /// A torrent's own rate caps (without asking its shard for figures).
    [[nodiscard]] result<rate_caps> caps(const info_hash& hash) const;
    /// Changes a torrent's own rate caps at once; saved with its settings.
    [[nodiscard]] result<torrent_view> set_caps(const info_hash& hash, rate_caps caps);
    /// A torrent's own connection limit (0: the agent's default), at once; saved.
    [[nodiscard]] result<torrent_view> set_max_connections(const info_hash& hash, std::uint32_t n);
    /// Applies new settings at run time (a reload): rate caps, connection limits, the default
    /// seed goal, the scrape interval, the watch folder. Returns one line per setting that
    /// differs but takes a restart (state, download folder, listen address, ...); an error (and
    /// nothing changed) when the new settings cannot be used (a missing watch folder).
    [[nodiscard]] result<std::vector<std::string>> reconfigure(const agent_options& next);
    /// Stops every torrent (resume records saved), then calls `done`.
    void shutdown(std::function<void()> done);
    /// Calls `fn` for every event from now on (progress at most once a second per torrent);
    /// the id unsubscribes.
    [[nodiscard]] std::uint64_t subscribe(event_fn fn);
    /// Stops an event subscription (unknown ids are ignored).
    void unsubscribe(std::uint64_t id);
    /// The shared listen port.
    [[nodiscard]] std::uint16_t port() const;
    /// Problems found loading the state folder (one line each).
    [[nodiscard]] const std::vector<std::string>& load_warnings() const { return warnings_; }

private:
    struct entry;
    agent(io::reactor& reactor, agent_options options);
    void load_saved();
    /// Places a new torrent on the shard with the fewest.
    void assign(entry& e);
    [[nodiscard]] result<void> start_entry(entry& e);
    void stop_entry(entry& e, std::function<void()> done);
    /// A session failed (to open, or later); from its shard.
    void session_failed(const info_hash& hash, const std::string& why);
    /// A session stopped and is gone; from its shard.
    void session_stopped(const info_hash& hash, const std::optional<torrent_figures>& last,
                         const std::function<void()>& done);
    /// The torrent as the API shows it, with its session's figures (null: none published).
    [[nodiscard]] torrent_view view(const entry& e, const torrent_figures* figures) const;
    [[nodiscard]] torrent_view view(const entry& e) const;
    /// Every shard's board, by shard.
    [[nodiscard]] std::vector<std::map<info_hash, torrent_figures>> boards() const;
    [[nodiscard]] result<entry*> lookup(const info_hash& hash) const;
    [[nodiscard]] result<std::filesystem::path> confine(const std::filesystem::path& p) const;
    [[nodiscard]] std::shared_ptr<shard_link> route(const info_hash& hash) const;
    // agent_seeding.cpp: seed goals and scrapes (the read-only opening runs on the shard).
    void arm_seed_watch();
    void check_seeding();
    void check_one(entry& e, io::reactor::clock::time_point now, const torrent_figures& f);
    void finish_entry(entry& e, const std::string& why, const torrent_figures& f);
    void fold_seed_progress(entry& e, const torrent_figures* f);
    void reset_seed_progress(entry& e);
    [[nodiscard]] seed_policy goal_of(const entry& e) const;
    void fill_seeding_view(const entry& e, torrent_view& v, const torrent_figures* f) const;
    // agent_events.cpp
    void emit(std::string_view kind, const entry& e, std::string reason = {});
    void scan_events(bool report);

    io::reactor& reactor_;
    agent_options options_;
    std::unique_ptr<shard> own_shard_;  ///< when no shards were given
    std::vector<std::shared_ptr<shard_link>> shards_;
    std::vector<std::size_t> assigned_;  ///< torrents per shard
    std::shared_ptr<io::worker_pool> hashing_;
    std::shared_ptr<swarm::rate_limiter> global_up_;
    std::shared_ptr<swarm::rate_limiter> global_down_;
    std::shared_ptr<swarm::connection_budget> budget_;  ///< --max-connections, every torrent
    std::unique_ptr<swarm::scrape_client> scraper_;     ///< made at the first min_seeders goal
    bool seed_watch_ = false;                           ///< the once-a-second goal check runs
    std::unique_ptr<state_store> state_;
    std::unique_ptr<peer_router> router_;
    std::unique_ptr<watch_folder> watch_;
    std::map<info_hash, std::unique_ptr<entry>> torrents_;
    std::vector<std::string> warnings_;
    std::map<std::uint64_t, event_fn> subscribers_;
    std::uint64_t next_subscriber_ = 1;
    bool scanning_ = false;  ///< the once-a-second event scan is scheduled
    io::reactor::clock::time_point started_;
    std::uint64_t retired_down_ = 0;  ///< bytes of torrents removed or paused this run
    std::uint64_t retired_up_ = 0;
    std::uint16_t port_ = 0;
    io::scope scope_;  ///< deferred stops and torrent callbacks; last member, first to go
};

}  // namespace minibit::agent
