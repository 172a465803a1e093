// Test helpers for storage/: a fresh mkdtemp folder removed at the end, hand-built metainfo
// (files, piece length, SHA-1 piece hashes) over deterministic content, and the engine's
// two-step verification.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/storage/piece_store.hpp"

namespace minibit::storage::test {

/// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    temp_dir(temp_dir&&) = delete;
    temp_dir& operator=(temp_dir&&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// A torrent and the bytes it should hold.
struct test_torrent {
    metainfo info;
    std::vector<std::byte> content;  ///< the whole torrent stream

    /// The bytes of piece i.
    [[nodiscard]] std::vector<std::byte> piece(std::uint32_t i) const;
};

/// Builds a torrent named `name` over files (relative path, length) with pseudo-random content
/// from `seed`; single-file when there is one file whose path equals the name.
[[nodiscard]] test_torrent make_torrent(
    const std::string& name, const std::vector<std::pair<std::string, std::uint64_t>>& files,
    std::uint64_t piece_length, std::uint32_t seed = 1);

/// Store options with this back end and allocation, the rest default.
[[nodiscard]] store_options options_for(backend_kind backend,
                                        allocation_mode allocation = allocation_mode::full);

/// The engine's verification: hash_piece, then commit_check on this thread; the verdict.
[[nodiscard]] result<bool> verify(piece_store& store, piece_index piece);

/// Reads a whole file (small test files only).
[[nodiscard]] std::vector<std::byte> read_file(const std::filesystem::path& p);

}  // namespace minibit::storage::test
