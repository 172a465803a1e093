// The running tracker: a tracker_service shared by N reactor threads, each with an HTTP
// listener and a UDP socket on the same ports (SO_REUSEPORT), periodic expiry of its share of
// the shards, and stats ticks. start/stop/set_filter may be called from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "minibit/io/address.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/runner.hpp"
#include "minibit/tracker/rollout_table.hpp"
#include "minibit/tracker/service.hpp"
#include "minibit/tracker/store.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::tracker {

/// Limits of the HTTP front end (flags --idle-timeout, --request-timeout, --max-connections).
struct http_front_config {
    /// Request heads: size and header count (bodies are refused whatever their size).
    wire::http_limits limits;
    /// A keep-alive connection may wait this long between two requests.
    std::chrono::seconds idle_timeout{60};
    /// A request head must be complete this long after it began: after the accept for the
    /// first request, after the first byte for later ones (slowloris defence).
    std::chrono::seconds request_timeout{10};
    /// Open HTTP connections of the whole process; each of N threads keeps at most
    /// ceil(max / N) and closes a connection accepted above that at once. Each costs a file
    /// descriptor, kernel socket buffers and at most one request head (8 KiB) of ours.
    std::size_t max_connections = 100000;
};

/// The rollout view and its endpoints (flags --straggler-after, --admin-token-file,
/// --protect-reads, --expect, --rollout-max-*).
struct rollout_server_config {
    bool enabled = true;
    rollout_config table;  ///< its shard count follows the swarm table's
    /// PUT/DELETE /v1/torrents/HASH/expect need "Authorization: Bearer TOKEN"; none: refused.
    std::optional<std::string> admin_token;
    bool protect_reads = false;                               ///< GET /v1 needs the token too
    std::vector<std::pair<info_hash, std::uint32_t>> expect;  ///< expected host counts at start
};

/// Everything the tracker process needs to run.
struct server_config {
    service_config service;
    std::optional<io::address> http;  ///< nullopt: HTTP off
    std::optional<io::address> udp;   ///< nullopt: UDP off
    unsigned threads = 0;             ///< 0: one per core
    io::backend_kind backend = io::backend_kind::auto_select;
    http_front_config http_front;
    /// io::reactor_options::batch_wait of every reactor thread (0: wake on every event).
    std::chrono::microseconds batch_wait{0};
    /// io::reactor_options::udp_hold of every reactor thread: a UDP socket that gets datagrams
    /// faster than one per udp_hold is read (and answered) in batches, waiting at most
    /// udp_hold (less at higher rates); the answers of a batch leave by one sendmmsg.
    std::chrono::microseconds udp_hold{400};
    /// The state file (flag --state-file): loaded at start (a bad one is logged and ignored),
    /// written every state_interval and by save_state().
    std::optional<std::filesystem::path> state_file;
    std::chrono::seconds state_interval{30};
    /// The shared store (flag --store): several instances share their swarms through Redis.
    std::optional<store_config> store;
    rollout_server_config rollout;
};

class http_front;
class udp_front;
class state_saver;
class store_journal;
class redis_store;
class rollout_api;

/// A started tracker; the destructor stops and joins it.
class tracker_server {
public:
    /// Validates the config, starts the threads and binds every socket; fails on any error.
    [[nodiscard]] static result<std::unique_ptr<tracker_server>> start(
        const server_config& config, std::shared_ptr<const info_hash_filter> filter);
    tracker_server(const tracker_server&) = delete;
    tracker_server& operator=(const tracker_server&) = delete;
    ~tracker_server();

    /// The bound HTTP address (actual port when 0 was asked), if HTTP is on.
    [[nodiscard]] std::optional<io::address> http_address() const { return http_bound_; }
    /// The bound UDP address, if UDP is on.
    [[nodiscard]] std::optional<io::address> udp_address() const { return udp_bound_; }
    /// The shared request handler (for stats and filter reloads).
    [[nodiscard]] tracker_service& service() { return *service_; }
    /// The rollout view, if on.
    [[nodiscard]] rollout_table* rollout() { return rollout_.get(); }
    /// The back end the reactors run on.
    [[nodiscard]] io::backend_kind backend() const { return backend_; }
    /// Number of reactor threads.
    [[nodiscard]] unsigned thread_count() const;
    /// Runs `task` on reactor thread `index` (dropped once that loop ended); any thread. For
    /// liveness checks (the systemd watchdog asks every reactor to answer).
    void post(unsigned index, io::task_fn task);
    /// Asks every thread to stop; any thread.
    void stop();
    /// Waits for the threads to end.
    void join();
    /// Writes the state file now (after join(): the final snapshot of a stopping tracker) and
    /// logs what it cost; a no-op without a state file.
    [[nodiscard]] result<void> save_state();

private:
    struct per_thread;
    tracker_server() = default;
    [[nodiscard]] result<void> bind_all();
    void schedule_tick(unsigned index);
    void end_when_flushed(unsigned index, io::reactor::clock::time_point until);
    void load_state_file();
    [[nodiscard]] result<void> prepare_store();
    [[nodiscard]] result<void> prepare_rollout();

    server_config config_;
    std::unique_ptr<tracker_service> service_;
    std::unique_ptr<state_saver> saver_;
    std::unique_ptr<store_journal> journal_;  ///< the store's write-through, if any
    std::unique_ptr<redis_store> store_;      ///< lives on thread 0, if any
    std::unique_ptr<rollout_table> rollout_;  ///< the rollout view, if on
    std::unique_ptr<rollout_api> api_;        ///< its endpoints, shared by every thread
    std::vector<std::unique_ptr<per_thread>> threads_;
    std::unique_ptr<io::runner> runner_;
    std::optional<io::address> http_bound_;
    std::optional<io::address> udp_bound_;
    io::backend_kind backend_ = io::backend_kind::epoll;
};

}  // namespace minibit::tracker
