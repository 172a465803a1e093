// What one `minibit-loadgen swarm` run does: swarm shape, file, programs, folders and limits.
// Filled by main.cpp from the command line; read by the driver. Value type; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace minibit::loadgen {

/// How the file's pieces are spread at the start.
enum class start_mode {
    scatter,  ///< every piece held by exactly one peer, dealt from a seeded shuffle
    seed,     ///< peer 0 holds everything and seeds; the others start empty
};

/// How the peers run: one minibit-peer process each, or sessions on reactor threads of the
/// driver (--in-process).
enum class peer_hosting { processes, in_process };

/// In-process peers' logs: one file with the peer index in each line, or a file per peer.
enum class log_layout { single_file, per_peer };

/// Whether download folders survive a successful run.
enum class keep_folders { no, yes };

/// The driver's inputs; defaults follow the original MiniBit job.
struct swarm_options {
    std::uint32_t peers = 10;
    std::filesystem::path file = "files/original.txt";
    std::uint64_t size_bytes = 1U << 20U;  ///< size of the file when it must be generated
    std::uint32_t pieces = 100;            ///< used when piece_size_bytes is 0
    std::uint64_t piece_size_bytes = 0;
    start_mode mode = start_mode::scatter;
    std::uint32_t numwant = 4;
    std::uint32_t kill = 0;                     ///< peers to SIGKILL mid-transfer
    std::chrono::milliseconds timeout{60'000};  ///< whole run, from the first process started
    std::chrono::milliseconds linger{0};        ///< extra seeding once every leecher completed
    std::uint64_t seed = 1;                     ///< rng: file contents, piece spread, kill victims
    std::filesystem::path tracker_bin;          ///< empty: minibit-tracker next to this program
    std::filesystem::path peer_bin;             ///< empty: minibit-peer next to this program
    std::filesystem::path out_dir = "files/downloads";
    std::filesystem::path log_dir = "logs";
    std::string io = "auto";  ///< --io of every peer and the tracker
    std::string log_level = "info";
    std::optional<double> rechoke_seconds;  ///< passed to the peers only when set
    bool origin = false;                    ///< the seeder (seed mode) runs with --origin
    /// Every peer's payload upload cap in bytes per second (0: none); the fluid-model bound
    /// in the report needs it (loopback has no link rates of its own).
    std::uint64_t uplink_rate = 0;
    keep_folders keep = keep_folders::no;
    std::uint32_t max_peers = 50;  ///< connections per peer at most (minibit-peer's default)
    /// max_peers as the user gave it; else a default that an in-process run lowers to fit the
    /// open-file limit.
    bool max_peers_given = false;
    peer_hosting hosting = peer_hosting::processes;
    unsigned threads = 0;                       ///< --in-process reactor threads (0: one per core)
    log_layout logs = log_layout::single_file;  ///< --in-process only (processes: per peer)
    double probe_rate = 0;                ///< tracker latency probe, announces per second (0: off)
    std::optional<unsigned> tracker_cpu;  ///< the tracker and probe on this CPU, the rest elsewhere
};

}  // namespace minibit::loadgen
