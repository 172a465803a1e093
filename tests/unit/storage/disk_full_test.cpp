// A full disk must give error values, never SIGBUS or silent loss. Each case runs in a forked
// child that mounts a 256 KiB tmpfs in its own user + mount namespace (skipped when the
// kernel or sandbox forbids that); the child reports the first failed check as its exit code.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "minibit/storage/piece_store.hpp"
#include "test_torrent.hpp"

namespace minibit::storage {
namespace {

using test::make_torrent;
using test::temp_dir;
using test::test_torrent;

constexpr int exit_skip = 77;

bool write_text(const char* path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    return static_cast<bool>(f.flush());
}

/// Becomes root of a fresh user + mount namespace and mounts a 256 KiB tmpfs on dir.
bool mount_small_tmpfs(const std::filesystem::path& dir) {
    const unsigned uid = ::getuid();
    const unsigned gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        return false;
    }
    if (!write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
        return false;
    }
    return ::mount("minibit-test", dir.c_str(), "tmpfs", 0, "size=256k") == 0;
}

/// Fills the filesystem holding dir with a filler file until ENOSPC.
void fill_disk(const std::filesystem::path& dir) {
    const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT, 0644);
    const std::string chunk(4096, 'f');
    for (int i = 0; i < 1024 && ::write(fd, chunk.data(), chunk.size()) > 0; ++i) {}
    ::close(fd);
}

/// Child body: opens a 128 KiB torrent, fills the disk, writes every piece; returns an exit code.
int write_after_disk_filled(const std::filesystem::path& dir, backend_kind backend,
                            allocation_mode mode, storage_errc expected) {
    const test_torrent t = make_torrent("t", {{"t", 128 * 1024}}, 32 * 1024);
    store_options options = test::options_for(backend, mode);
    options.resume_path = dir / "r";
    auto store = piece_store::open(t.info, dir / "data", options);
    if (!store) {
        return 10;
    }
    fill_disk(dir);
    result<void> last;
    for (std::uint32_t p = 0; p < 4 && last; ++p) {
        last = (*store)->write_unverified(piece_index{p}, 0, t.piece(p));
    }
    if (mode == allocation_mode::full) {
        // Space was reserved at open: every write lands and verifies.
        return last && test::verify(**store, piece_index{3}).value_or(false) ? 0 : 11;
    }
    if (last) {
        return 12;
    }
    return is(last.error(), expected) ? 0 : 13;
}

/// Runs fn in a forked child on a small tmpfs; returns its exit code (exit_skip if no tmpfs).
template <class Fn>
int in_small_tmpfs(const std::filesystem::path& dir, Fn fn) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(mount_small_tmpfs(dir) ? fn() : exit_skip);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    if (WIFSIGNALED(status)) {
        return 1000 + WTERMSIG(status);  // e.g. 1007: killed by SIGBUS
    }
    return WEXITSTATUS(status);
}

struct full_case {
    const char* name;
    backend_kind backend;
    allocation_mode mode;
    storage_errc expected;  ///< for sparse mode: the error the write must return
};

class DiskFull : public ::testing::TestWithParam<full_case> {};

TEST_P(DiskFull, WritesAfterTheDiskFillsGiveErrorsNotSigbus) {
    temp_dir dir;
    const full_case c = GetParam();
    const int code = in_small_tmpfs(dir.path(), [&] {
        return write_after_disk_filled(dir.path(), c.backend, c.mode, c.expected);
    });
    if (code == exit_skip) {
        GTEST_SKIP() << "cannot mount a tmpfs in a user namespace here";
    }
    EXPECT_EQ(code, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, DiskFull,
    ::testing::Values(
        full_case{"MmapFull", backend_kind::mmap, allocation_mode::full, storage_errc::fault},
        full_case{"PreadFull", backend_kind::pread, allocation_mode::full, storage_errc::fault},
        // The mmap back end writes received blocks with pwrite too: ENOSPC, not a SIGBUS.
        full_case{"MmapSparse", backend_kind::mmap, allocation_mode::sparse,
                  storage_errc::no_space},
        full_case{"PreadSparse", backend_kind::pread, allocation_mode::sparse,
                  storage_errc::no_space}),
    [](const ::testing::TestParamInfo<full_case>& param_info) {
        return std::string(param_info.param.name);
    });

TEST(DiskFull, TorrentLargerThanTheFilesystemFailsAtOpen) {
    temp_dir dir;
    const int code = in_small_tmpfs(dir.path(), [&] {
        const test_torrent t = make_torrent("big", {{"big", 512 * 1024}}, 64 * 1024);
        auto store = piece_store::open(t.info, dir.path());
        return !store && is(store.error(), storage_errc::no_space) ? 0 : 20;
    });
    if (code == exit_skip) {
        GTEST_SKIP() << "cannot mount a tmpfs in a user namespace here";
    }
    EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace minibit::storage
