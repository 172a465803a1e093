// Private to storage/: the open files of one torrent. read_write: checks first (paths, symbolic
// links, types, sizes, writability, free space) without touching anything, then creates the
// missing folders and files below the folder with openat(O_NOFOLLOW) and grows short files to
// their length: posix_fallocate (full) or ftruncate + the free-space check (sparse); never
// truncates. Records each file's size and mtime as found (for the resume check) and what it
// created or grew, so undo_open() can put the folder back as it was. read_only: opens every
// file O_RDONLY and requires its exact length. Owns the descriptors. One thread at a time.
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
    std::uint64_t length = 0;  ///< final length from the metainfo
    file_stamp found;          ///< size and mtime before open() changed anything
    bool existed = false;      ///< false when open() created it (holds no data yet)
    bool changed = false;      ///< open() grew or allocated this existing file
};

/// The descriptors of a torrent's files; closes them on destruction.
class file_set {
public:
    /// Opens every file under folder per `access`; read_write creates and sizes per `mode`.
    /// On failure nothing on disk is left changed.
    [[nodiscard]] static result<file_set> open(const torrent_layout& layout,
                                               const std::filesystem::path& folder,
                                               allocation_mode mode, access_mode access);
    file_set() = default;
    ~file_set();
    file_set(const file_set&) = delete;
    file_set& operator=(const file_set&) = delete;
    file_set(file_set&& other) noexcept;
    file_set& operator=(file_set&& other) noexcept;

    [[nodiscard]] const open_file& operator[](std::size_t i) const { return files_[i]; }
    [[nodiscard]] std::size_t size() const { return files_.size(); }
    /// True when the files were opened read_write.
    [[nodiscard]] bool writable() const { return writable_; }
    /// Current size and mtime of file i.
    [[nodiscard]] result<file_stamp> stamp(std::size_t i) const;
    /// fdatasync on every file (nothing when read-only).
    [[nodiscard]] result<void> sync_all() const;
    /// Removes the files and folders open() created (a file only while the path still names
    /// it, a folder only when empty) and shrinks grown files back to their size and mtime.
    /// Call before close_all(); the first failure is returned, the rest still undone.
    [[nodiscard]] result<void> undo_open();
    /// Closes all descriptors.
    void close_all();

private:
    /// read_write: checks everything, then creates and sizes (undoing on failure).
    [[nodiscard]] result<void> open_read_write(const torrent_layout& layout,
                                               const std::filesystem::path& folder,
                                               allocation_mode mode);
    /// Opens (creating the missing folders and file) one file below the folder's descriptor
    /// `root` and sizes it; appends it to files_ as soon as it is open.
    [[nodiscard]] result<void> create_one(int root, const std::filesystem::path& folder,
                                          const file_slot& slot, open_file planned,
                                          allocation_mode mode);
    /// read_only: opens each file O_RDONLY and checks its type and exact length.
    [[nodiscard]] result<void> open_read_only(const torrent_layout& layout,
                                              const std::filesystem::path& folder);

    std::vector<open_file> files_;
    std::vector<std::filesystem::path> created_dirs_;  ///< in creation order
    bool writable_ = false;
};

/// An io error for a failed system call: "<what> <path>: <strerror(err)>".
[[nodiscard]] error io_error(int err, const std::string& what, const std::filesystem::path& path);

/// pwrite of all `length` bytes at `offset` of f (short writes continued, EINTR retried).
[[nodiscard]] result<void> write_all(const open_file& f, std::uint64_t offset, const std::byte* src,
                                     std::uint64_t length);

}  // namespace minibit::storage
