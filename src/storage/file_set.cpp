#include "file_set.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <ranges>
#include <utility>

namespace minibit::storage {

namespace {

std::int64_t mtime_ns_of(const struct stat& st) {
    return std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + std::int64_t{st.st_mtim.tv_nsec};
}

/// Opens one file of a complete copy read-only and checks that it is one, of its exact length.
result<open_file> open_complete(const std::filesystem::path& folder, const file_slot& slot) {
    open_file f{-1, folder / slot.path, slot.length, {}, true, false};
    f.fd = ::open(f.full_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO: no wait
    if (f.fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return fail(storage_errc::wrong_file, f.full_path.string() + " is missing");
        }
        return std::unexpected(io_error(errno, "open", f.full_path));
    }
    struct stat st {};
    std::optional<error> err;
    if (::fstat(f.fd, &st) != 0) {
        err = io_error(errno, "fstat", f.full_path);
    } else if (!S_ISREG(st.st_mode)) {
        err = make_error(storage_errc::wrong_file, f.full_path.string() + " is not a regular file");
    } else if (static_cast<std::uint64_t>(st.st_size) != slot.length) {
        err = make_error(storage_errc::wrong_file,
                         f.full_path.string() + " is " + std::to_string(st.st_size) +
                             " bytes, expected " + std::to_string(slot.length) +
                             " (not a complete copy)");
    }
    if (err) {
        ::close(f.fd);
        return std::unexpected(std::move(*err));
    }
    f.found = {static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
    return f;
}

/// True when `path` still names the file open as fd (same device and inode, not a link).
bool still_names(const std::filesystem::path& path, int fd) {
    struct stat by_path {};
    struct stat by_fd {};
    return ::lstat(path.c_str(), &by_path) == 0 && ::fstat(fd, &by_fd) == 0 &&
           by_path.st_dev == by_fd.st_dev && by_path.st_ino == by_fd.st_ino;
}

/// Puts back the size and mtime an existing file had before open() grew or allocated it.
result<void> restore_file(const open_file& f) {
    if (f.found.size < f.length && ::ftruncate(f.fd, static_cast<off_t>(f.found.size)) != 0) {
        return std::unexpected(io_error(errno, "ftruncate", f.full_path));
    }
    timespec times[2]{};
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(f.found.mtime_ns / 1'000'000'000);
    times[1].tv_nsec = static_cast<long>(f.found.mtime_ns % 1'000'000'000);
    if (::futimens(f.fd, times) != 0) {
        return std::unexpected(io_error(errno, "futimens", f.full_path));
    }
    return {};
}

}  // namespace

error io_error(int err, const std::string& what, const std::filesystem::path& path) {
    if (err == ENOSPC) {
        return make_error(storage_errc::no_space,
                          what + " " + path.string() + ": " + std::strerror(err));
    }
    if (err == EACCES || err == EPERM || err == EROFS || err == EISDIR) {  // EISDIR: in the way
        return make_error(storage_errc::not_writable,
                          what + " " + path.string() + ": " + std::strerror(err));
    }
    return make_error(storage_errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

result<void> write_all(const open_file& f, std::uint64_t offset, const std::byte* src,
                       std::uint64_t length) {
    std::uint64_t done = 0;
    while (done < length) {
        const ssize_t n = ::pwrite(f.fd, src + done, length - done,
                                   static_cast<off_t>(offset + done));
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
                                allocation_mode mode, access_mode access) {
    file_set out;
    auto opened = access == access_mode::read_only ? out.open_read_only(layout, folder)
                                                   : out.open_read_write(layout, folder, mode);
    if (!opened) {
        (void)out.undo_open();
        out.close_all();
        return std::unexpected(std::move(opened.error()));
    }
    return out;
}

result<void> file_set::open_read_only(const torrent_layout& layout,
                                      const std::filesystem::path& folder) {
    for (const file_slot& slot : layout.files()) {
        auto f = open_complete(folder, slot);
        if (!f) {
            return std::unexpected(std::move(f.error()));
        }
        files_.push_back(std::move(*f));
    }
    return {};
}

file_set::~file_set() {
    close_all();
}

file_set::file_set(file_set&& other) noexcept
    : files_(std::exchange(other.files_, {})),
      created_dirs_(std::exchange(other.created_dirs_, {})),
      writable_(other.writable_) {}

file_set& file_set::operator=(file_set&& other) noexcept {
    if (this != &other) {
        close_all();
        files_ = std::exchange(other.files_, {});
        created_dirs_ = std::exchange(other.created_dirs_, {});
        writable_ = other.writable_;
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
    if (!writable_) {
        return {};  // nothing of ours to write back
    }
    for (const open_file& f : files_) {
        if (f.fd >= 0 && ::fdatasync(f.fd) != 0) {
            return std::unexpected(io_error(errno, "fdatasync", f.full_path));
        }
    }
    return {};
}

result<void> file_set::undo_open() {
    result<void> first;
    const auto note = [&first](result<void> r) {
        if (first && !r) first = std::move(r);
    };
    for (const open_file& f : files_) {
        if (f.fd < 0) {
            continue;
        }
        if (!f.existed && still_names(f.full_path, f.fd) && ::unlink(f.full_path.c_str()) != 0) {
            note(std::unexpected(io_error(errno, "remove", f.full_path)));
        } else if (f.existed && f.changed) {
            note(restore_file(f));
        }
    }
    // Newest first, so children go before their parents; a folder someone filled meanwhile
    // stays (rmdir refuses it).
    for (const auto& dir : std::ranges::reverse_view(created_dirs_)) {
        if (::rmdir(dir.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
            note(std::unexpected(io_error(errno, "remove folder", dir)));
        }
    }
    created_dirs_.clear();
    return first;
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
