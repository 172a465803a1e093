// file_set::open for read_write (get): first every check that can fail without touching the
// disk (the folder and its parent, each path component with lstat: no symbolic link, no file
// where a folder belongs and the reverse, no file longer than the torrent's, writability where
// something is created or grown, free space), then the changes: mkdir/mkdirat and
// openat(O_NOFOLLOW) one component at a time from the folder, so no link planted meanwhile is
// followed either; each folder and file created and each file grown is recorded for undo_open().
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <set>
#include <utility>

#include "file_set.hpp"

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

/// An owned descriptor of a folder (or nothing).
class dir_fd {
public:
    explicit dir_fd(int fd = -1) : fd_(fd) {}
    ~dir_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    dir_fd(const dir_fd&) = delete;
    dir_fd& operator=(const dir_fd&) = delete;
    dir_fd(dir_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    dir_fd& operator=(dir_fd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

/// One file as inspection found it (nothing changed yet).
struct planned_file {
    open_file file;
    struct stat st {};                  ///< zeroed when missing
    std::filesystem::path needs_write;  ///< the file itself, or the deepest folder that exists
};

/// Everything open_read_write decided before changing anything.
struct open_plan {
    bool folder_exists = false;
    std::filesystem::path space_at;  ///< the folder, or its parent when it must be created
    std::vector<planned_file> files;
};

/// The folder must be a folder, or be creatable: its parent exists, is a folder, is writable.
result<bool> check_folder(const std::filesystem::path& folder) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return fail(storage_errc::wrong_file,
                        "output folder " + folder.string() + " is not a folder");
        }
        return true;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        return std::unexpected(io_error(errno, "stat", folder));
    }
    std::filesystem::path parent = folder.parent_path();
    if (parent.empty()) {
        parent = ".";
    }
    const std::string cannot = "cannot create output folder " + folder.string() + ": ";
    if (::stat(parent.c_str(), &st) != 0) {
        return fail(
            storage_errc::wrong_file,
            cannot + parent.string() +
                (errno == ENOENT ? " does not exist" : std::string(": ") + std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return fail(storage_errc::wrong_file, cannot + parent.string() + " is not a folder");
    }
    if (::faccessat(AT_FDCWD, parent.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
        return fail(storage_errc::not_writable,
                    cannot + parent.string() + " is not writable: " + std::strerror(errno));
    }
    return false;
}

/// Walks slot's path below the folder with lstat, filling `out`; refuses links and misfits.
result<void> inspect(const std::filesystem::path& folder, bool folder_exists, const file_slot& slot,
                     planned_file& out) {
    out.file = open_file{-1, folder / slot.path, slot.length, {}, false, false};
    out.needs_write = folder;
    if (!folder_exists) {
        return {};
    }
    std::filesystem::path at = folder;
    const auto last = std::prev(slot.path.end());
    for (auto part = slot.path.begin(); part != slot.path.end(); ++part) {
        at /= *part;
        struct stat st {};
        if (::lstat(at.c_str(), &st) != 0) {
            if (errno == ENOENT) {
                return {};  // this and everything below it is created
            }
            return std::unexpected(io_error(errno, "stat", at));
        }
        if (S_ISLNK(st.st_mode)) {
            return fail(storage_errc::unsafe_path,
                        at.string() +
                            " is a symbolic link: get follows no link inside the "
                            "output folder");
        }
        if (part != last) {
            if (!S_ISDIR(st.st_mode)) {
                return fail(storage_errc::wrong_file,
                            at.string() + " is a file where the torrent has a folder");
            }
            out.needs_write = at;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            return fail(storage_errc::wrong_file,
                        at.string() + " is a folder where the torrent has a file");
        }
        if (!S_ISREG(st.st_mode)) {
            return fail(storage_errc::wrong_file, at.string() + " is not a regular file");
        }
        if (static_cast<std::uint64_t>(st.st_size) > slot.length) {
            return fail(storage_errc::wrong_file,
                        at.string() + " is " + std::to_string(st.st_size) +
                            " bytes, more than the torrent's " + std::to_string(slot.length) +
                            ": not truncating it");
        }
        out.st = st;
        out.file.existed = true;
        out.file.found = {static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
        out.needs_write = at;
    }
    return {};
}

/// Every file is opened for writing, and missing ones are created in their deepest folder.
result<void> check_writable(const open_plan& plan, const std::filesystem::path& folder) {
    std::set<std::filesystem::path> checked;
    for (const planned_file& f : plan.files) {
        const std::filesystem::path& p = f.needs_write;
        if (!plan.folder_exists || !checked.insert(p).second) {
            continue;  // a folder we create is ours; its parent was checked
        }
        const int want = f.file.existed && p == f.file.full_path ? W_OK : W_OK | X_OK;
        if (::faccessat(AT_FDCWD, p.c_str(), want, AT_EACCESS) != 0) {
            const std::string what = p == folder             ? "output folder "
                                     : p == f.file.full_path ? "file "
                                                             : "folder ";
            return fail(storage_errc::not_writable,
                        what + p.string() + " is not writable: " + std::strerror(errno));
        }
    }
    return {};
}

/// Refuses to start when the filesystem has less free space than the files still need.
result<void> check_free_space(const open_plan& plan) {
    std::uint64_t needed = 0;
    for (const planned_file& f : plan.files) {
        needed += missing_bytes(f.st, f.file.length);
    }
    if (needed == 0) {
        return {};
    }
    struct statvfs vfs {};
    if (::statvfs(plan.space_at.c_str(), &vfs) != 0) {
        return std::unexpected(io_error(errno, "statvfs", plan.space_at));
    }
    const std::uint64_t free_bytes = std::uint64_t{vfs.f_bavail} * std::uint64_t{vfs.f_frsize};
    if (free_bytes < needed) {
        return fail(storage_errc::no_space, "not enough space in " + plan.space_at.string() +
                                                ": need " + std::to_string(needed) + " bytes, " +
                                                std::to_string(free_bytes) + " free");
    }
    return {};
}

/// Brings an open file to its final length per the allocation mode (never shorter).
result<void> size_file(open_file& f, allocation_mode mode) {
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
        return std::unexpected(io_error(errno, "fstat", f.full_path));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(storage_errc::wrong_file, f.full_path.string() + " is not a regular file");
    }
    if (static_cast<std::uint64_t>(st.st_size) < f.length) {
        f.changed = f.existed;
        if (::ftruncate(f.fd, static_cast<off_t>(f.length)) != 0) {
            return std::unexpected(io_error(errno, "ftruncate", f.full_path));
        }
    }
    if (mode == allocation_mode::full && f.length > 0 && missing_bytes(st, f.length) > 0) {
        // Reserves extents only (1.2 ms per GiB on ext4 here), so a full disk fails now
        // rather than as SIGBUS when a page of the mapping is first read.
        f.changed = f.existed;
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

/// Opens the folder `name` below `parent` without following a link, creating it if missing.
result<dir_fd> enter_folder(int parent, const std::filesystem::path& name,
                            const std::filesystem::path& full,
                            std::vector<std::filesystem::path>& created) {
    if (::mkdirat(parent, name.c_str(), 0755) == 0) {
        created.push_back(full);
    } else if (errno != EEXIST) {
        return std::unexpected(io_error(errno, "create folder", full));
    }
    dir_fd d(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d.get() < 0) {
        if (errno == ELOOP || errno == ENOTDIR) {
            return fail(storage_errc::unsafe_path,
                        full.string() + " is not a folder (or is a symbolic link)");
        }
        return std::unexpected(io_error(errno, "open folder", full));
    }
    return d;
}

}  // namespace

result<void> file_set::open_read_write(const torrent_layout& layout,
                                       const std::filesystem::path& folder, allocation_mode mode) {
    writable_ = true;
    open_plan plan;
    auto exists = check_folder(folder);
    if (!exists) {
        return std::unexpected(std::move(exists.error()));
    }
    plan.folder_exists = *exists;
    plan.space_at = *exists ? folder : folder.parent_path();
    if (plan.space_at.empty()) {
        plan.space_at = ".";
    }
    plan.files.resize(layout.files().size());
    for (std::size_t i = 0; i < plan.files.size(); ++i) {
        if (auto ok = inspect(folder, plan.folder_exists, layout.files()[i], plan.files[i]); !ok) {
            return ok;
        }
    }
    if (auto ok = check_writable(plan, folder); !ok) {
        return ok;
    }
    if (auto ok = check_free_space(plan); !ok) {
        return ok;
    }
    // Checks done: from here on every change is recorded for undo_open().
    if (!plan.folder_exists) {
        // EEXIST: another process (e.g. a second get into the same folder) made it since the
        // check; it is not ours to remove, and the open below checks it is a folder.
        if (::mkdir(folder.c_str(), 0755) == 0) {
            created_dirs_.push_back(folder);
        } else if (errno != EEXIST) {
            return std::unexpected(io_error(errno, "create folder", folder));
        }
    }
    dir_fd root(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) {
        return std::unexpected(io_error(errno, "open folder", folder));
    }
    for (std::size_t i = 0; i < plan.files.size(); ++i) {
        if (auto ok = create_one(root.get(), folder, layout.files()[i], plan.files[i].file, mode);
            !ok) {
            return ok;
        }
    }
    return {};
}

result<void> file_set::create_one(int root, const std::filesystem::path& folder,
                                  const file_slot& slot, open_file planned, allocation_mode mode) {
    dir_fd held;
    int dir = root;
    std::filesystem::path at = folder;
    const auto last = std::prev(slot.path.end());
    for (auto part = slot.path.begin(); part != last; ++part) {
        at /= *part;
        auto next = enter_folder(dir, *part, at, created_dirs_);
        if (!next) {
            return std::unexpected(std::move(next.error()));
        }
        held = std::move(*next);
        dir = held.get();
    }
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (planned.existed ? 0 : O_CREAT | O_EXCL);
    planned.fd = ::openat(dir, last->c_str(), flags, 0644);
    if (planned.fd < 0) {
        if (errno == ELOOP) {
            return fail(storage_errc::unsafe_path, planned.full_path.string() +
                                                       " is a symbolic link: get follows no "
                                                       "link inside the output folder");
        }
        return std::unexpected(io_error(errno, "open", planned.full_path));
    }
    files_.push_back(std::move(planned));
    return size_file(files_.back(), mode);
}

}  // namespace minibit::storage
