// Private to storage/: how piece bytes reach the files. One abstract interface over the
// torrent byte stream, two implementations: mmap (whole-file MAP_SHARED read-only mappings,
// memcpy under the SIGBUS guard, writes with pwrite) and pread/pwrite (the baseline, and the
// safe choice for sparse files on network filesystems). Owned by one piece_store; one thread
// at a time, except visit() and writes of different ranges (hashing workers, shards).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "file_set.hpp"
#include "minibit/core/result.hpp"
#include "minibit/storage/piece_store.hpp"
#include "torrent_layout.hpp"

namespace minibit::storage {

/// Receives consecutive chunks of a range, in order (for hashing).
using chunk_visitor = std::function<void(std::span<const std::uint8_t>)>;

/// Reads and writes ranges of the torrent byte stream; callers have bound-checked them.
class file_backend {
public:
    file_backend(torrent_layout layout, file_set files)
        : layout_(std::move(layout)), files_(std::move(files)) {}
    virtual ~file_backend() = default;
    file_backend(const file_backend&) = delete;
    file_backend& operator=(const file_backend&) = delete;
    file_backend(file_backend&&) = delete;
    file_backend& operator=(file_backend&&) = delete;

    /// Copies [start, start + out.size()) into out.
    [[nodiscard]] virtual result<void> read(std::uint64_t start, std::span<std::byte> out) = 0;
    /// Copies data to [start, start + data.size()), one write_segment per file it spans.
    [[nodiscard]] result<void> write(std::uint64_t start, std::span<const std::byte> data) {
        result<void> status;
        const std::byte* src = data.data();
        layout_.for_each_segment(start, data.size(), [&](const file_segment& s) {
            status = write_segment(s, src);
            src += s.length;
            return status.has_value();
        });
        return status;
    }
    /// Feeds [start, start + length) to fn in chunks, without holding it all in memory. Safe to
    /// call from several threads at once (and beside writes to other ranges).
    [[nodiscard]] virtual result<void> visit(std::uint64_t start, std::uint64_t length,
                                             const chunk_visitor& fn) = 0;
    /// Views straight into the files' mappings; unsupported on pread.
    [[nodiscard]] virtual result<block_span_list> spans(std::uint64_t start,
                                                        std::uint64_t length) const = 0;
    /// Tells the kernel a range will not be needed soon (verified piece, resume check).
    virtual void advise_done(std::uint64_t start, std::uint64_t length) = 0;
    /// Drops mappings (mmap); later calls are invalid.
    virtual void release() = 0;

    [[nodiscard]] const torrent_layout& layout() const { return layout_; }
    [[nodiscard]] file_set& files() { return files_; }
    [[nodiscard]] const file_set& files() const { return files_; }

protected:
    /// Writes s.length bytes from src at s.offset of file s.file.
    [[nodiscard]] virtual result<void> write_segment(const file_segment& s,
                                                     const std::byte* src) const = 0;

    torrent_layout layout_;
    file_set files_;
};

/// Feeds [start, start + length) to fn through pread into a per-thread buffer of 256 KiB (no
/// mapping: see mmap_backend::visit). A file shorter than the range is a storage_errc::fault.
[[nodiscard]] result<void> visit_by_pread(const torrent_layout& layout, const file_set& files,
                                          std::uint64_t start, std::uint64_t length,
                                          const chunk_visitor& fn);

/// Maps every non-empty file MAP_SHARED and returns the mmap back end.
[[nodiscard]] result<std::unique_ptr<file_backend>> make_mmap_backend(torrent_layout layout,
                                                                      file_set files);
/// Returns the pread/pwrite back end.
[[nodiscard]] std::unique_ptr<file_backend> make_pread_backend(torrent_layout layout,
                                                               file_set files);

}  // namespace minibit::storage
