// How the swarm driver hosts one peer: a `minibit-peer get` process (here), or a session on a
// reactor thread of the driver itself (--in-process, inprocess_host.hpp). A host belongs to the
// driver's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/child_process.hpp"

namespace minibit::loadgen {

/// Everything one peer needs to run.
struct peer_plan {
    std::uint32_t index = 0;
    std::filesystem::path torrent;
    std::filesystem::path folder;  ///< download folder (may already hold pieces)
    std::filesystem::path stats_json;
    std::filesystem::path complete_file;  ///< created by the peer on completion (if not empty)
    std::filesystem::path log;
    std::uint16_t port = 0;
    std::uint32_t numwant = 4;
    std::uint32_t max_peers = 50;           ///< connections at most (minibit-peer --max-peers)
    std::chrono::milliseconds seed_for{0};  ///< stay after completion this long
    std::chrono::milliseconds timeout{0};   ///< the peer gives up on its own after this
    std::string io = "auto";
    std::string log_level = "info";
    std::optional<double> rechoke_seconds;
    std::uint64_t upload_limit = 0;  ///< payload upload cap, bytes per second (0: none)
    bool origin = false;             ///< seed with the origin policy (the seeder of --origin)
};

/// One hosted peer.
class peer_host {
public:
    peer_host() = default;
    virtual ~peer_host() = default;
    peer_host(const peer_host&) = delete;
    peer_host& operator=(const peer_host&) = delete;
    peer_host(peer_host&&) = delete;
    peer_host& operator=(peer_host&&) = delete;

    /// Starts the peer; a process host does not wait for the program to run (confirm_start).
    [[nodiscard]] virtual result<void> start(const peer_plan& plan) = 0;
    /// Waits until a started peer's program runs; fails when it could not (e.g. exec failed).
    [[nodiscard]] virtual result<void> confirm_start() { return {}; }
    /// Checks without blocking whether the peer has ended; true once it has.
    virtual bool poll() = 0;
    /// True once every piece is verified (the peer keeps seeding until stopped).
    [[nodiscard]] virtual bool completed() const = 0;
    /// How it ended, once it has.
    [[nodiscard]] virtual std::optional<exit_status> status() const = 0;
    /// Ends it at once (SIGKILL for a process), as a crash would.
    virtual void kill_now() = 0;
    /// Asks it to stop (SIGTERM) without waiting, so many peers can stop at once.
    virtual void request_stop() = 0;
    /// Asks it to stop (SIGTERM), then ends it after `grace`.
    virtual void stop(std::chrono::milliseconds grace) = 0;
};

/// A host running `peer_bin get TORRENT -o FOLDER ...` as a child process.
[[nodiscard]] std::unique_ptr<peer_host> make_process_host(std::filesystem::path peer_bin);

/// The command-line arguments (without argv[0]) of `minibit-peer get` for a plan.
[[nodiscard]] std::vector<std::string> get_arguments(const peer_plan& plan);

}  // namespace minibit::loadgen
