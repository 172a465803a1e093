#include "file_set.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace minibit::storage {

namespace {

std::int64_t mtime_ns_of(const struct stat& st) {
    return std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + std::int64_t{st.st_mtim.tv_nsec};
}

/// Bytes the filesystem still has to find for this file to reach `length`.
std::uint64_t missing_bytes(const struct stat& st, std::uint64_t length) {
    const auto allocated = static_cast<std::uint64_t>(st.st_blocks) * 512U;
    return allocated >= length ? 0 : length - allocated;
}

/// Refuses to start when the folder's filesystem has less free space than the files still need.
result<void> check_free_space(const std::filesystem::path& folder, std::uint64_t needed) {
    struct statvfs vfs {};
    if (::statvfs(folder.c_str(), &vfs) != 0) {
        return std::unexpected(io_error(errno, "statvfs", folder));
    }
    const std::uint64_t free_bytes = std::uint64_t{vfs.f_bavail} * std::uint64_t{vfs.f_frsize};
    if (free_bytes < needed) {
        return fail(storage_errc::no_space,
                    "not enough space in " + folder.string() + ": need " + std::to_string(needed) +
                        " bytes, " + std::to_string(free_bytes) + " free");
    }
    return {};
}

/// Brings an open file to its final length per the allocation mode.
result<void> size_file(const open_file& f, const struct stat& st, allocation_mode mode) {
    if (static_cast<std::uint64_t>(st.st_size) != f.length &&
        ::ftruncate(f.fd, static_cast<off_t>(f.length)) != 0) {
        return std::unexpected(io_error(errno, "ftruncate", f.full_path));
    }
    if (mode == allocation_mode::full && f.length > 0 && missing_bytes(st, f.length) > 0) {
        // Reserves extents only (1.2 ms per GiB on ext4 here), so a full disk fails now
        // rather than as SIGBUS when a page of the mapping is first written.
        const int rc = ::posix_fallocate(f.fd, 0, static_cast<off_t>(f.length));
        if (rc == ENOSPC) {
            return fail(storage_errc::no_space, "no space left for " + f.full_path.string());
        }
        if (rc != 0) {
            return std::unexpected(io_error(rc, "posix_fallocate", f.full_path));
        }
    }
    return {};
}

/// Describes file `slot` under folder as found on disk, filling `st` (zeroed when absent).
open_file inspect(const std::filesystem::path& folder, const file_slot& slot, struct stat& st) {
    open_file f{-1, folder / slot.path, slot.length, {}, false};
    if (::stat(f.full_path.c_str(), &st) == 0) {
        f.existed = true;
        f.found = {static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
    } else {
        st = {};
    }
    return f;
}

/// Creates the file's folder, opens or creates the file, and sizes it.
result<void> open_and_size(open_file& f, const struct stat& st, allocation_mode mode) {
    std::error_code ec;
    std::filesystem::create_directories(f.full_path.parent_path(), ec);
    if (ec) {
        return std::unexpected(io_error(ec.value(), "create folder", f.full_path.parent_path()));
    }
    f.fd = ::open(f.full_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f.fd < 0) {
        return std::unexpected(io_error(errno, "open", f.full_path));
    }
    return size_file(f, st, mode);
}

}  // namespace

error io_error(int err, const std::string& what, const std::filesystem::path& path) {
    if (err == ENOSPC) {
        return make_error(storage_errc::no_space, what + " " + path.string() + ": " +
                                                      std::strerror(err));
    }
    return make_error(storage_errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

result<void> write_all(const open_file& f, std::uint64_t offset, const std::byte* src,
                       std::uint64_t length) {
    std::uint64_t done = 0;
    while (done < length) {
        const ssize_t n =
            ::pwrite(f.fd, src + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return std::unexpected(io_error(n < 0 ? errno : EIO, "pwrite", f.full_path));
        }
        done += static_cast<std::uint64_t>(n);
    }
    return {};
}

result<file_set> file_set::open(const torrent_layout& layout, const std::filesystem::path& folder,
                                allocation_mode mode) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec) {
        return std::unexpected(io_error(ec.value(), "create folder", folder));
    }
    file_set out;
    std::vector<struct stat> before(layout.files().size());
    std::uint64_t needed = 0;
    for (std::size_t i = 0; i < layout.files().size(); ++i) {
        out.files_.push_back(inspect(folder, layout.files()[i], before[i]));
        needed += missing_bytes(before[i], layout.files()[i].length);
    }
    if (auto ok = check_free_space(folder, needed); !ok) {
        return std::unexpected(ok.error());
    }
    for (std::size_t i = 0; i < out.files_.size(); ++i) {
        if (auto ok = open_and_size(out.files_[i], before[i], mode); !ok) {
            return std::unexpected(ok.error());
        }
    }
    return out;
}

file_set::~file_set() { close_all(); }

file_set::file_set(file_set&& other) noexcept : files_(std::exchange(other.files_, {})) {}

file_set& file_set::operator=(file_set&& other) noexcept {
    if (this != &other) {
        close_all();
        files_ = std::exchange(other.files_, {});
    }
    return *this;
}

result<file_stamp> file_set::stamp(std::size_t i) const {
    struct stat st {};
    if (::fstat(files_[i].fd, &st) != 0) {
        return std::unexpected(io_error(errno, "fstat", files_[i].full_path));
    }
    return file_stamp{static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
}

result<void> file_set::sync_all() const {
    for (const open_file& f : files_) {
        if (f.fd >= 0 && ::fdatasync(f.fd) != 0) {
            return std::unexpected(io_error(errno, "fdatasync", f.full_path));
        }
    }
    return {};
}

void file_set::close_all() {
    for (open_file& f : files_) {
        if (f.fd >= 0) {
            ::close(f.fd);
            f.fd = -1;
        }
    }
}

}  // namespace minibit::storage
