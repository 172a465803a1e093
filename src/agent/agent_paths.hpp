// The path rules of the agent: what a client names must resolve inside the download roots
// (absolute, no "..", no symbolic link leading out), and removing a torrent's data removes only
// the files the torrent names (never through a symbolic link, neither the file's nor a folder's)
// and the torrent's folders that became empty; no two torrents may use one path.
// Any thread; plain file-system calls.
#pragma once

#include <filesystem>
#include <optional>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"

namespace minibit::agent {

/// `p` resolved (symbolic links of its existing part followed) when it lies inside `root`
/// (itself resolved); agent_errc::bad_path otherwise.
[[nodiscard]] result<std::filesystem::path> confine_path(const std::filesystem::path& p,
                                                         const std::filesystem::path& root);

/// A path both torrents would use, each under its own folder: the same file, or a file of one
/// where the other needs a folder; nullopt when they share none. Two torrents writing one file
/// would overwrite each other's verified data.
[[nodiscard]] std::optional<std::filesystem::path> shared_path(const metainfo& a,
                                                               const std::filesystem::path& a_dir,
                                                               const metainfo& b,
                                                               const std::filesystem::path& b_dir);

/// Removes the files of `info` under `data_dir` (a multi-file torrent's below
/// data_dir/<name>/) and then the torrent's folders left empty, <name> included; a file below a
/// symbolic link to a folder is left alone. Returns how many files went.
std::size_t delete_torrent_files(const metainfo& info, const std::filesystem::path& data_dir);

}  // namespace minibit::agent
