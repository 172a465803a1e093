// The swarm driver behind `minibit-loadgen swarm`: starts a minibit-tracker and N peers on
// 127.0.0.1, gives the peers their starting pieces (scatter or one seeder), optionally kills
// some mid-transfer, watches each peer's --complete-file marker, and once every surviving
// peer has completed (plus --linger) stops them all, checks every copy byte for byte and
// reports. Owns every process it starts and reaps them all on every path. One thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "inprocess_host.hpp"
#include "minibit/loadgen/child_process.hpp"
#include "minibit/loadgen/swarm_files.hpp"
#include "minibit/loadgen/swarm_options.hpp"
#include "peer_host.hpp"
#include "swarm_report.hpp"
#include "tracker_probe.hpp"

namespace minibit::loadgen {

/// Runs one swarm; construct, call run() once.
class swarm_driver {
public:
    /// Takes the options; the programs' paths must already be resolved.
    explicit swarm_driver(swarm_options options);

    /// Runs the whole swarm and returns its report (report.failure says why a run broke off).
    [[nodiscard]] swarm_report run();

private:
    /// SIGTERM before SIGKILL, for the peers and the tracker.
    static constexpr std::chrono::milliseconds stop_grace{2'000};
    using clock = std::chrono::steady_clock;

    // One peer of the swarm and what the driver knows about it.
    /// A copy compared with the original, and the file's size and mtime when it was.
    struct copy_check {
        bool identical = false;
        file_stamp stamp;
    };
    struct peer_slot {
        peer_plan plan;
        peer_role role = peer_role::leecher;
        std::unique_ptr<peer_host> host;
        std::uint32_t start_pieces = 0;
        bool killed = false;     // SIGKILLed by --kill
        bool ended = false;      // reaped
        bool stopped = false;    // ended by the driver at the end of the run
        std::vector<bool> have;  // pieces seen on disk (for --kill)
        clock::time_point started_at;
        std::optional<clock::time_point> completed_at;  // its --complete-file appeared
        std::optional<clock::time_point> ended_at;
        std::optional<copy_check> checked;  // compared with the original while others ran
    };

    [[nodiscard]] result<void> prepare_original();
    [[nodiscard]] result<void> launch_tracker();
    [[nodiscard]] result<void> await_tracker();
    [[nodiscard]] result<void> make_torrent();
    [[nodiscard]] peer_plan plan_for(std::uint32_t k, std::uint16_t port,
                                     std::chrono::milliseconds remaining) const;
    [[nodiscard]] result<void> prepare_peers();
    [[nodiscard]] result<void> start_peers();
    [[nodiscard]] result<void> await_seeder(peer_slot& seeder);
    // In-process hosting and the run's figures (swarm_hosting.cpp).
    void note_nofile_limit();
    [[nodiscard]] result<void> start_runtime();
    [[nodiscard]] std::unique_ptr<peer_host> make_host() const;
    void start_probe();
    void sample_resources();
    void finish_probe();
    void end_runtime();
    void watch_peers();
    void observe_peers();
    void check_finished_copies();
    [[nodiscard]] bool all_completed() const;
    [[nodiscard]] clock::time_point last_marker() const;
    [[nodiscard]] bool any_pending() const;
    void linger();
    [[nodiscard]] bool aborted() const;
    void try_kill();
    [[nodiscard]] bool covered_without(std::size_t victim) const;
    void stop_peers();
    void fill_report();
    void note_first_block();
    [[nodiscard]] peer_report row_for(const peer_slot& slot) const;
    [[nodiscard]] bool copy_identical(const peer_slot& slot) const;
    [[nodiscard]] std::filesystem::path copy_path(const peer_slot& slot) const;

    swarm_options opts_;
    mapped_file original_file_;  // the original, mapped read-only
    std::string_view original_;  // its bytes: the reference for every check
    std::string name_;           // the torrent's file name inside each peer folder
    piece_geometry geometry_;
    std::optional<child_process> tracker_;
    std::uint16_t tracker_port_ = 0;
    std::filesystem::path torrent_;
    std::vector<peer_slot> peers_;
    std::mt19937_64 rng_;
    clock::time_point started_;
    clock::time_point deadline_;
    std::uint32_t kills_done_ = 0;
    swarm_report report_;
    std::shared_ptr<peer_runtime> runtime_;  // --in-process: the reactor threads
    std::shared_ptr<const metainfo> info_;   // --in-process: the torrent, loaded once
    std::unique_ptr<tracker_probe> probe_;
    std::optional<double> tracker_cpu_at_start_;  // seconds, when the peers started
    clock::time_point peers_started_at_;
    clock::time_point resources_sampled_at_;
};

/// Finds `count` distinct free TCP ports on 127.0.0.1 (bound together, then released), none of
/// them in `avoid`.
[[nodiscard]] result<std::vector<std::uint16_t>> free_ports(
    std::size_t count, std::span<const std::uint16_t> avoid = {});

/// True when something accepts TCP connections on 127.0.0.1:port.
[[nodiscard]] bool accepts_connections(std::uint16_t port);

}  // namespace minibit::loadgen
