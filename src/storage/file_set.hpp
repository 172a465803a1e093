// Private to storage/: the open files of one torrent. Creates missing folders and files,
// records each file's size and mtime as found (before we touch it, for the resume check),
// then sizes it to its final length: posix_fallocate (full) or ftruncate + statvfs check
// (sparse). Owns the descriptors. One thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/storage/piece_store.hpp"
#include "torrent_layout.hpp"

namespace minibit::storage {

/// A file's size and modification time, as the resume file records them.
struct file_stamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    friend bool operator==(const file_stamp&, const file_stamp&) = default;
};

/// One open file.
struct open_file {
    int fd = -1;
    std::filesystem::path full_path;
    std::uint64_t length = 0;       ///< final length from the metainfo
    file_stamp found;               ///< size and mtime before open() changed anything
    bool existed = false;           ///< false when open() created it (holds no data yet)
};

/// The descriptors of a torrent's files; closes them on destruction.
class file_set {
public:
    /// Opens or creates every file under folder and sizes it per `mode`.
    [[nodiscard]] static result<file_set> open(const torrent_layout& layout,
                                               const std::filesystem::path& folder,
                                               allocation_mode mode);
    file_set() = default;
    ~file_set();
    file_set(const file_set&) = delete;
    file_set& operator=(const file_set&) = delete;
    file_set(file_set&& other) noexcept;
    file_set& operator=(file_set&& other) noexcept;

    [[nodiscard]] const open_file& operator[](std::size_t i) const { return files_[i]; }
    [[nodiscard]] std::size_t size() const { return files_.size(); }
    /// Current size and mtime of file i.
    [[nodiscard]] result<file_stamp> stamp(std::size_t i) const;
    /// fdatasync on every file.
    [[nodiscard]] result<void> sync_all() const;
    /// Closes all descriptors.
    void close_all();

private:
    std::vector<open_file> files_;
};

/// An io error for a failed system call: "<what> <path>: <strerror(err)>".
[[nodiscard]] error io_error(int err, const std::string& what, const std::filesystem::path& path);

/// pwrite of all `length` bytes at `offset` of f (short writes continued, EINTR retried).
[[nodiscard]] result<void> write_all(const open_file& f, std::uint64_t offset, const std::byte* src,
                                     std::uint64_t length);

}  // namespace minibit::storage
