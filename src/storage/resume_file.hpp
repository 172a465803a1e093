// Private to storage/: the resume file. Binary, little-endian, fixed size for a given torrent:
//   "MBRESUM1" | info hash (20) | u32 file count | u32 piece count
//   | per file: u64 size, i64 mtime ns | have bitfield (BEP 3 layout) | per piece: u64 XXH3-64
//   | u64 XXH3-64 of everything before.
// Trusted only when every file's size and mtime still match. Free functions; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "file_set.hpp"
#include "minibit/core/bitfield.hpp"
#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"

namespace minibit::storage {

/// What a resume file says about a torrent.
struct resume_data {
    info_hash hash;
    std::vector<file_stamp> files;
    bitfield have;
    std::vector<std::uint64_t> xxh3;  ///< one per piece; meaningful where have is set
};

/// Serialises resume data in the format above.
[[nodiscard]] std::string encode_resume(const resume_data& data);
/// Parses resume bytes for a torrent with this hash and these counts; exact size required.
[[nodiscard]] result<resume_data> decode_resume(std::span<const std::uint8_t> bytes,
                                                const info_hash& hash, std::size_t file_count,
                                                std::uint32_t piece_count);
/// Reads and parses a resume file; nullopt when it does not exist.
[[nodiscard]] result<std::optional<resume_data>> load_resume(const std::filesystem::path& path,
                                                             const info_hash& hash,
                                                             std::size_t file_count,
                                                             std::uint32_t piece_count);
/// Writes bytes to path atomically: temp file in the same folder, fdatasync, rename.
[[nodiscard]] result<void> write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view bytes);

}  // namespace minibit::storage
