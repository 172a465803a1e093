// Files of a swarm run: the generated original, each peer's starting copy (only its assigned
// pieces filled, the rest left as sparse holes so the peer's resume check finds exactly those),
// and the checks afterwards (which pieces a copy holds, byte-for-byte identity).
// Plain functions over paths and spans; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/units.hpp"
#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {

/// Piece geometry of a single-file torrent.
struct piece_geometry {
    std::uint64_t piece_length = 0;
    std::uint64_t total_length = 0;

    [[nodiscard]] std::uint32_t piece_count() const;
    /// Byte offset of piece i.
    [[nodiscard]] std::uint64_t offset(piece_index i) const { return i.get() * piece_length; }
    /// Length of piece i (the last may be shorter).
    [[nodiscard]] std::uint64_t size(piece_index i) const;
};

/// Writes `size_bytes` of printable text (76-column lines) derived from `seed`.
[[nodiscard]] result<void> generate_text_file(const std::filesystem::path& path,
                                              std::uint64_t size_bytes, std::uint64_t seed);

/// Reads a whole file (at most `max_bytes`).
[[nodiscard]] result<std::string> read_file(const std::filesystem::path& path,
                                            std::uint64_t max_bytes);

/// A regular file mapped read-only: the original's bytes as the page cache holds them, with no
/// copy into fresh memory (reading 256 MiB into a new string cost 1.35 s of page clearing here).
class mapped_file {
public:
    /// Maps `path` (a regular file; an empty one maps to no bytes).
    [[nodiscard]] static result<mapped_file> open(const std::filesystem::path& path);
    mapped_file() = default;
    mapped_file(mapped_file&& other) noexcept;
    mapped_file& operator=(mapped_file&& other) noexcept;
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file();
    /// The file's bytes, valid while this object lives.
    [[nodiscard]] std::string_view bytes() const {
        return {static_cast<const char*>(data_), size_};
    }

private:
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Shuffles the pieces with `seed` and deals them round robin: every piece to exactly one peer.
[[nodiscard]] std::vector<std::vector<piece_index>> scatter_pieces(std::uint32_t piece_count,
                                                                   std::uint32_t peers,
                                                                   std::uint64_t seed);

/// Writes a full-length sparse copy holding only `pieces` of `original` (others are holes).
[[nodiscard]] result<void> write_partial_copy(std::string_view original,
                                              const std::filesystem::path& copy,
                                              const piece_geometry& geometry,
                                              std::span<const piece_index> pieces);

/// Marks in `have` (one flag per piece) the pieces `copy` now holds with exactly the original's
/// bytes; pieces already marked are not read again (a missing file marks nothing).
void update_presence(std::string_view original, const std::filesystem::path& copy,
                     const piece_geometry& geometry, std::vector<bool>& have);

/// A file's size and modification time: what tells a file rewritten since it was last read.
struct file_stamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const file_stamp&) const = default;
};

/// The stamp of a regular file, or nothing when it cannot be read.
[[nodiscard]] std::optional<file_stamp> stamp_of(const std::filesystem::path& path);

/// True when `copy` exists and equals `original` byte for byte (same length).
[[nodiscard]] bool identical_copy(std::string_view original, const std::filesystem::path& copy);
/// Compares `copy` with `original`: true or false, or nothing when the copy could not be read
/// for a reason that says nothing about its bytes (out of descriptors or memory), so that a
/// caller checks again later instead of calling a good copy corrupt.
[[nodiscard]] std::optional<bool> compare_copy(std::string_view original,
                                               const std::filesystem::path& copy);

}  // namespace minibit::loadgen
