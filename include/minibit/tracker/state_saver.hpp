// Keeps the swarm table in a state file: load_state() merges a file into the table at start;
// a state_saver writes the table every interval on a thread of its own (never a reactor: the
// write and its fsyncs block) and once more when asked (SIGTERM). Encoding holds one shard lock
// at a time, so announces to a shard wait at most for that shard's encoding. Used by
// tracker_server; save() and the free functions may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "minibit/tracker/service.hpp"
#include "minibit/tracker/state_file.hpp"

namespace minibit::tracker {

/// What one snapshot cost.
struct save_report {
    std::uint64_t swarms = 0;
    std::uint64_t peers = 0;
    std::uint64_t bytes = 0;
    std::chrono::microseconds encode{0};        ///< all shards, locks included
    std::chrono::microseconds longest_hold{0};  ///< the longest a single shard lock was held
    std::chrono::microseconds write{0};         ///< write, fsync, rename, fsync of the folder
};

/// What loading a state file did.
struct load_report {
    state_header header;
    std::uint64_t loaded = 0;   ///< peers merged into the table
    std::uint64_t expired = 0;  ///< peers older than the peer timeout by now
    std::uint64_t refused = 0;  ///< peers of swarms a full shard could not take
};

/// Encodes the whole table (one shard lock at a time) into a state file image.
[[nodiscard]] std::vector<std::uint8_t> snapshot_table(tracker_service& service,
                                                       std::chrono::seconds peer_timeout,
                                                       save_report& report);

/// Reads `path` and merges its peers into the table, aged by the time since it was written.
[[nodiscard]] result<load_report> load_state(tracker_service& service,
                                             const std::filesystem::path& path,
                                             std::chrono::seconds peer_timeout);

/// Writes the table to a state file periodically and on demand.
class state_saver {
public:
    state_saver(tracker_service& service, std::filesystem::path path, std::chrono::seconds interval,
                std::chrono::seconds peer_timeout);
    ~state_saver();
    state_saver(const state_saver&) = delete;
    state_saver& operator=(const state_saver&) = delete;

    /// Starts the periodic thread.
    void start();
    /// Stops the periodic thread (no final save: call save()).
    void stop();
    /// Writes the table now (serialised with the periodic writes).
    [[nodiscard]] result<save_report> save();

private:
    void loop();

    tracker_service& service_;
    std::filesystem::path path_;
    std::chrono::seconds interval_;
    std::chrono::seconds peer_timeout_;
    std::mutex save_mutex_;  ///< one save at a time
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  ///< guarded by wake_mutex_
    std::thread thread_;
};

}  // namespace minibit::tracker
