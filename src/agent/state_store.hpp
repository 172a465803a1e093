// The agent's state folder: for each torrent its .torrent file and its settings (data folder,
// paused), each written atomically (temp file, fsync, rename, fsync of the folder), so a crash
// at any moment leaves either the old or the new version. Loading sets a corrupt or half-written
// entry aside (renamed *.corrupt, reported) and keeps going with the others. Resume records of
// the piece stores live in resume/. Reactor thread of the agent (plain file I/O).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/agent/seed_policy.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"

namespace minibit::agent {

/// One torrent's settings as saved.
struct torrent_settings {
    std::filesystem::path data_dir;
    bool paused = false;
    std::uint64_t max_upload = 0;  ///< bytes per second, 0: no cap of its own
    std::uint64_t max_download = 0;
    std::uint32_t max_connections = 0;  ///< 0: the agent's per-torrent default
    std::optional<seed_policy> seed;    ///< none: the agent's default goal
    bool finished = false;              ///< its seed goal was met: not started again
    std::uint64_t seeded_seconds = 0;   ///< seeding time of the runs before this one
    std::uint64_t uploaded = 0;         ///< payload uploaded in the runs before this one
};

/// One torrent read back from the state folder.
struct saved_torrent {
    metainfo info;
    std::string torrent_bytes;
    torrent_settings settings;
};

/// What load() found: the torrents that read back, and one line per entry set aside.
struct loaded_state {
    std::vector<saved_torrent> torrents;
    std::vector<std::string> warnings;
};

/// The state folder of an agent.
class state_store {
public:
    /// Creates `dir`, dir/torrents and dir/resume (mode 0700) when missing.
    [[nodiscard]] static result<std::unique_ptr<state_store>> open(std::filesystem::path dir);

    /// Saves a torrent's .torrent bytes and settings (the bytes first: a settings file always
    /// has its .torrent).
    [[nodiscard]] result<void> save(const info_hash& hash, std::string_view torrent_bytes,
                                    const torrent_settings& settings) const;
    /// Replaces a torrent's settings.
    [[nodiscard]] result<void> save_settings(const info_hash& hash,
                                             const torrent_settings& settings) const;
    /// Removes a torrent's files and its resume record.
    void forget(const info_hash& hash) const;
    /// Reads every saved torrent, setting aside the entries that do not read back.
    [[nodiscard]] loaded_state load() const;
    /// Where the resume record of a torrent lives.
    [[nodiscard]] std::filesystem::path resume_path(const info_hash& hash) const;
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

private:
    explicit state_store(std::filesystem::path dir) : dir_(std::move(dir)) {}
    [[nodiscard]] std::filesystem::path torrents_dir() const { return dir_ / "torrents"; }
    void set_aside(const std::filesystem::path& p, std::vector<std::string>& warnings,
                   const std::string& why) const;
    [[nodiscard]] result<saved_torrent> read_one(const std::filesystem::path& settings_file) const;

    std::filesystem::path dir_;
};

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the folder.
[[nodiscard]] result<void> write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view bytes);

}  // namespace minibit::agent
