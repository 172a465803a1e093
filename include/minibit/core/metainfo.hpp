// .torrent files (BEP 3 metainfo, BEP 12 announce-list): parsing with full validation, and
// creation from a file or a folder. The info hash is the SHA-1 of the info dictionary's bytes
// exactly as they appear in the file. Value types; parse/create are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/core/units.hpp"

namespace minibit {

enum class metainfo_errc {
    bad_bencode = 1,       ///< the file is not valid bencode (reason carries the bencode error)
    missing_field,         ///< a required key is absent
    wrong_type,            ///< a key holds the wrong bencode type
    bad_value,             ///< a value is out of range or malformed
    bad_path,              ///< a file path could escape the download folder or is empty
    piece_count_mismatch,  ///< `pieces` does not hold ceil(total / piece length) hashes
    io,                    ///< reading or writing a file failed (create, load)
};
[[nodiscard]] constexpr std::string_view error_domain(metainfo_errc) {
    return "metainfo";
}

/// One file of a torrent, in torrent order; `path` is relative to the download folder and
/// already validated (no '..', no absolute part, no empty component). It starts with the
/// torrent's name: `name` itself for a single file, `name/<path...>` for a multi-file torrent
/// (BEP 3: there `name` is the top folder; libtorrent, Transmission and aria2 agree).
struct file_entry {
    std::filesystem::path path;
    std::uint64_t length = 0;
    std::uint64_t offset = 0;  ///< byte offset of the file's first byte in the torrent's stream
};

/// A parsed, validated v1 torrent.
struct metainfo {
    info_hash hash;
    std::string name;         ///< info.name: the file's name, or the top folder's (multi-file)
    bool multi_file = false;  ///< true when info.files was present
    std::uint64_t piece_length = 0;
    std::uint64_t total_length = 0;
    std::vector<sha1_digest> piece_hashes;
    std::vector<file_entry> files;  ///< single file: one entry whose path is `name`;
                                    ///< multi-file: each path is `name/...`
    std::string announce;           ///< may be empty (trackerless)
    std::vector<std::vector<std::string>> announce_list;  ///< BEP 12 tiers; empty when absent
    std::optional<std::int64_t> creation_date;
    std::string comment;
    std::string created_by;
    bool is_private = false;
    std::string info_bytes;  ///< the raw bencoded info dictionary

    [[nodiscard]] std::uint32_t piece_count() const {
        return static_cast<std::uint32_t>(piece_hashes.size());
    }
    /// Length of piece i: piece_length, except the last, which may be shorter.
    [[nodiscard]] std::uint64_t piece_size(piece_index i) const;
    /// All tracker URLs in tier order (announce-list first when present, else announce).
    [[nodiscard]] std::vector<std::vector<std::string>> tracker_tiers() const;
};

/// Limits for parsing untrusted .torrent files.
struct metainfo_limits {
    std::size_t max_file_bytes = 64U << 20U;       ///< whole .torrent file
    std::size_t max_files = 1U << 20U;             ///< entries in info.files
    std::size_t max_path_depth = 64;               ///< components per path
    std::uint64_t max_piece_length = 256U << 20U;  ///< 256 MiB
};

/// Parses and validates a .torrent file's bytes.
[[nodiscard]] result<metainfo> parse_metainfo(std::string_view bytes,
                                              const metainfo_limits& limits = {});
/// Reads a .torrent file's bytes: a regular file of at most limits.max_file_bytes. A FIFO or
/// a device is refused without waiting on it (a long-running process must not block there).
[[nodiscard]] result<std::string> read_torrent_file(const std::filesystem::path& file,
                                                    const metainfo_limits& limits = {});
/// Reads and parses a .torrent file from disk.
[[nodiscard]] result<metainfo> load_metainfo(const std::filesystem::path& file,
                                             const metainfo_limits& limits = {});

/// What to put in a new torrent.
struct create_options {
    std::vector<std::string> trackers;  ///< first is `announce`; more than one adds announce-list
    bool one_tier = false;              ///< all trackers in one BEP 12 tier (else one each)
    std::uint64_t piece_length = 0;     ///< 0: choose from `piece_count` or automatically
    std::uint32_t piece_count = 0;      ///< desired piece count (used when piece_length is 0)
    std::string comment;
    std::string created_by = "MiniBit";
    bool is_private = false;
    std::optional<std::int64_t> creation_date;  ///< default: now
};

/// The automatic piece length for `total_bytes` of data: a power of two giving at most about
/// 1500 pieces, clamped to 16 KiB..16 MiB.
[[nodiscard]] std::uint64_t auto_piece_length(std::uint64_t total_bytes);

/// Hashes a file or a folder (multi-file, files in sorted order) and returns the .torrent bytes.
[[nodiscard]] result<std::string> create_torrent(const std::filesystem::path& source,
                                                 const create_options& options);

}  // namespace minibit
