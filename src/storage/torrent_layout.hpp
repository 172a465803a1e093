// Private to storage/: a torrent's byte stream cut into files and pieces. Validates the
// metainfo's file offsets and piece count once, then maps a torrent byte range to the file
// segments that hold it (zero-length files are skipped). A value type; any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/core/units.hpp"

namespace minibit::storage {

/// One file of the torrent as storage sees it.
struct file_slot {
    std::filesystem::path path;  ///< relative to the download folder
    std::uint64_t length = 0;
    std::uint64_t offset = 0;  ///< first byte's position in the torrent stream
};

/// A part of a torrent byte range that lies in one file.
struct file_segment {
    std::size_t file = 0;
    std::uint64_t offset = 0;  ///< inside the file
    std::uint64_t length = 0;
};

/// Files and pieces of one torrent, validated.
class torrent_layout {
public:
    /// Checks offsets, lengths, paths and piece count of a hand-built or parsed metainfo.
    [[nodiscard]] static result<torrent_layout> from(const metainfo& torrent);

    [[nodiscard]] const std::vector<file_slot>& files() const { return files_; }
    [[nodiscard]] std::uint64_t total_length() const { return total_length_; }
    [[nodiscard]] std::uint64_t piece_length() const { return piece_length_; }
    [[nodiscard]] std::uint32_t piece_count() const { return piece_count_; }
    /// Length of piece i (the last one may be shorter); 0 when out of range.
    [[nodiscard]] std::uint64_t piece_size(piece_index i) const;
    /// Torrent stream offset of piece i's first byte.
    [[nodiscard]] std::uint64_t piece_start(piece_index i) const {
        return std::uint64_t{i.get()} * piece_length_;
    }

    /// Calls fn(file_segment) for each non-empty file part of [start, start + length), in
    /// order; stops at the first fn returning false and returns false then. The range must lie
    /// inside the torrent (callers bound-check first).
    template <class Fn>
    bool for_each_segment(std::uint64_t start, std::uint64_t length, Fn&& fn) const {
        std::size_t i = first_file_at(start);
        while (length > 0 && i < files_.size()) {
            const file_slot& f = files_[i];
            if (f.length > 0) {
                const std::uint64_t in_file = start - f.offset;
                const std::uint64_t n = std::min(length, f.length - in_file);
                if (!fn(file_segment{i, in_file, n})) {
                    return false;
                }
                start += n;
                length -= n;
            }
            ++i;
        }
        return true;
    }

private:
    /// Index of the first file whose end lies beyond `start` (the file holding that byte).
    [[nodiscard]] std::size_t first_file_at(std::uint64_t start) const;

    std::vector<file_slot> files_;
    std::uint64_t total_length_ = 0;
    std::uint64_t piece_length_ = 0;
    std::uint32_t piece_count_ = 0;
};

}  // namespace minibit::storage
