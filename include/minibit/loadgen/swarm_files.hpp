// Files of a swarm run: the generated original, each peer's starting copy (only its assigned
// pieces filled, the rest left as sparse holes so the peer's resume check finds exactly those),
// and the checks afterwards (which pieces a copy holds, byte-for-byte identity).
// Plain functions over paths and spans; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
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

/// True when `copy` exists and equals `original` byte for byte (same length).
[[nodiscard]] bool identical_copy(std::string_view original, const std::filesystem::path& copy);

}  // namespace minibit::loadgen
