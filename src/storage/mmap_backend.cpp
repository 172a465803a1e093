// The mmap back end: one MAP_SHARED PROT_READ mapping per non-empty file, for the life of the
// store (nothing is ever written through a mapping, so read-only files map as well as ours).
// Reads and sends use the mappings; hashing reads with pread (no page-table entry per page
// hashed) and received blocks go in with pwrite (no zero-fill fault per new page), both through
// the page cache the mappings share. Every copy over a mapping runs under the SIGBUS guard, so
// a file truncated underneath us is an error value, not a crash; a full disk under a sparse
// file is ENOSPC from pwrite.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "file_backend.hpp"
#include "sigbus_guard.hpp"

namespace minibit::storage {

namespace {

/// How long a file's size read by fstat stands for it in spans(), in nanoseconds. One fstat
/// per served block was about half of the fstat time of a 1,000-peer run (4.4% of its CPU); a
/// store serves at most a few hundred blocks a second, so 100 ms takes nearly all of them away.
/// The cost: a file cut short underneath us is caught by spans() up to 100 ms late (what the
/// send queue's delay already allowed): until then a send from pages past the new end fails
/// with EFAULT and closes that connection, and a block in the page that now holds the end
/// carries zeros, which the receiver's SHA-1 check refuses. Writes still fstat every time: a
/// pwrite past a new end would grow the file again and turn pieces we hold into silent zeros.
constexpr std::int64_t size_check_interval_ns = 100'000'000;

/// A monotonic clock read from the vDSO, no syscall (tick resolution is plenty here).
std::int64_t coarse_now_ns() {
    timespec ts{};
    (void)::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (std::int64_t{ts.tv_sec} * 1'000'000'000) + ts.tv_nsec;
}

/// The last fstat of one file. Relaxed atomics: threads that fault may each store a fresh
/// pair; a size from one check with the time of another is still a fresh size.
struct size_seen {
    std::atomic<std::uint64_t> size{0};
    std::atomic<std::int64_t> at_ns{-1};  ///< -1: never checked
};

class mmap_backend final : public file_backend {
public:
    mmap_backend(torrent_layout layout, file_set files)
        : file_backend(std::move(layout), std::move(files)),
          maps_(files_.size(), nullptr),
          seen_(std::make_unique<size_seen[]>(files_.size())) {}
    ~mmap_backend() override { release(); }
    mmap_backend(const mmap_backend&) = delete;
    mmap_backend& operator=(const mmap_backend&) = delete;
    mmap_backend(mmap_backend&&) = delete;
    mmap_backend& operator=(mmap_backend&&) = delete;

    result<void> map_all();
    result<void> read(std::uint64_t start, std::span<std::byte> out) override;
    result<void> visit(std::uint64_t start, std::uint64_t length, const chunk_visitor& fn) override;
    [[nodiscard]] result<block_span_list> spans(std::uint64_t start,
                                                std::uint64_t length) const override;
    void advise_done(std::uint64_t start, std::uint64_t length) override;
    void release() override;

private:
    /// pwrite of one segment, not a memcpy into the mapping: the first store to a page of a
    /// sparse file through a mapping makes the kernel zero-fill that page before the copy
    /// overwrites it (22.6% of a 1000-peer profile); pwrite of whole pages fills them straight
    /// from our buffer. Both go through the same page cache, so reads, hashes and sends from the
    /// mapping see the bytes. A file shorter than the segment's end is a fault, not grown.
    [[nodiscard]] result<void> write_segment(const file_segment& s,
                                             const std::byte* src) const override;
    /// The error for a SIGBUS on file i: says whether the file shrank or the disk is at fault.
    [[nodiscard]] error fault_error(std::size_t i) const;
    /// File i's size from an fstat at most size_check_interval_ns old; nullopt when fstat fails.
    [[nodiscard]] std::optional<std::uint64_t> recent_size(std::size_t i) const;
    /// Records the size an fstat just found for file i.
    void note_size(std::size_t i, std::uint64_t size, std::int64_t at_ns) const;

    std::vector<std::byte*> maps_;       ///< null for zero-length files and after release()
    std::unique_ptr<size_seen[]> seen_;  ///< one per file, for spans(): see recent_size()
};

std::optional<std::uint64_t> mmap_backend::recent_size(std::size_t i) const {
    const std::int64_t now = coarse_now_ns();
    const size_seen& s = seen_[i];
    const std::int64_t at = s.at_ns.load(std::memory_order_relaxed);
    if (at >= 0 && now - at < size_check_interval_ns) {
        return s.size.load(std::memory_order_relaxed);
    }
    const auto stamp = files_.stamp(i);
    if (!stamp) {
        return std::nullopt;
    }
    note_size(i, stamp->size, now);
    return stamp->size;
}

void mmap_backend::note_size(std::size_t i, std::uint64_t size, std::int64_t at_ns) const {
    seen_[i].size.store(size, std::memory_order_relaxed);
    seen_[i].at_ns.store(at_ns, std::memory_order_relaxed);
}

result<void> mmap_backend::map_all() {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        const open_file& f = files_[i];
        if (f.length == 0) {
            continue;
        }
        void* p = ::mmap(nullptr, f.length, PROT_READ, MAP_SHARED, f.fd, 0);
        if (p == MAP_FAILED) {
            return std::unexpected(io_error(errno, "mmap", f.full_path));
        }
        // Core dumps of a 40 GB torrent help nobody.
        (void)::madvise(p, f.length, MADV_DONTDUMP);
        maps_[i] = static_cast<std::byte*>(p);
    }
    return {};
}

error mmap_backend::fault_error(std::size_t i) const {
    const open_file& f = files_[i];
    const auto now = files_.stamp(i);
    if (now) {
        note_size(i, now->size, coarse_now_ns());  // the next spans() sees it at once
    }
    if (now && now->size < f.length) {
        return make_error(storage_errc::fault, "file " + f.full_path.string() +
                                                   " was truncated to " +
                                                   std::to_string(now->size) + " bytes (expected " +
                                                   std::to_string(f.length) + ")");
    }
    return make_error(storage_errc::fault, "I/O fault on the mapping of " + f.full_path.string() +
                                               " (disk full or device error)");
}

result<void> mmap_backend::read(std::uint64_t start, std::span<std::byte> out) {
    std::optional<error> err;
    std::byte* dst = out.data();
    layout_.for_each_segment(start, out.size(), [&](const file_segment& s) {
        const std::byte* src = maps_[s.file] + s.offset;
        const std::size_t n = s.length;
        if (!run_guarded([dst, src, n] { std::memcpy(dst, src, n); })) {
            err = fault_error(s.file);
            return false;
        }
        dst += n;
        return true;
    });
    if (err) {
        return std::unexpected(std::move(*err));
    }
    return {};
}

result<void> mmap_backend::write_segment(const file_segment& s, const std::byte* src) const {
    const open_file& f = files_[s.file];
    // pwrite past the end would quietly grow a file cut short underneath us (a memcpy into the
    // mapping faulted there): refuse it with the same error a read gets.
    const auto now = files_.stamp(s.file);
    if (!now || now->size < s.offset + s.length) {
        return std::unexpected(fault_error(s.file));
    }
    return write_all(f, s.offset, src, s.length);
}

result<void> mmap_backend::visit(std::uint64_t start, std::uint64_t length,
                                 const chunk_visitor& fn) {
    // Hashing reads with pread, not through the mapping: each page touched through the mapping
    // costs a page-table entry set up by a fault and torn down at munmap or exit, while a leecher
    // hashes each piece once and sends only some of them. Copying 256 KiB at a time into a buffer
    // that stays in L2 costs less than mapping its 64 pages (see docs/BENCHMARKS.md, send-path).
    return visit_by_pread(layout_, files_, start, length, fn);
}

result<block_span_list> mmap_backend::spans(std::uint64_t start, std::uint64_t length) const {
    block_span_list out;
    std::optional<error> err;
    const bool fits = layout_.for_each_segment(start, length, [&](const file_segment& s) {
        if (out.count == block_span_list::max_spans) {
            return false;
        }
        // The kernel copies these pages long after we return (a zero-copy send): a file cut
        // short underneath us would fail that send with EFAULT. A recent fstat (not one per
        // block) catches it here, with a message that says what happened.
        const auto size = recent_size(s.file);
        if (!size || *size < s.offset + s.length) {
            err = fault_error(s.file);
            return false;
        }
        out.spans[out.count++] = std::span<const std::byte>(maps_[s.file] + s.offset, s.length);
        return true;
    });
    if (err) {
        return std::unexpected(std::move(*err));
    }
    if (!fits) {
        return fail(
            storage_errc::too_fragmented,
            "block crosses more than " + std::to_string(block_span_list::max_spans) + " files");
    }
    return out;
}

void mmap_backend::advise_done(std::uint64_t start, std::uint64_t length) {
    static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    layout_.for_each_segment(start, length, [&](const file_segment& s) {
        // Only whole pages inside the range, so a neighbouring piece is never demoted.
        const std::uint64_t first = (s.offset + page - 1) / page * page;
        const std::uint64_t end = (s.offset + s.length) / page * page;
        if (end > first) {
            (void)::madvise(maps_[s.file] + first, end - first, MADV_COLD);
        }
        return true;
    });
}

void mmap_backend::release() {
    for (std::size_t i = 0; i < maps_.size(); ++i) {
        if (maps_[i] != nullptr) {
            ::munmap(maps_[i], files_[i].length);
            maps_[i] = nullptr;
        }
    }
}

}  // namespace

result<std::unique_ptr<file_backend>> make_mmap_backend(torrent_layout layout, file_set files) {
    auto backend = std::make_unique<mmap_backend>(std::move(layout), std::move(files));
    if (auto ok = backend->map_all(); !ok) {
        backend->release();
        (void)backend->files().undo_open();
        return std::unexpected(ok.error());
    }
    return std::unique_ptr<file_backend>(std::move(backend));
}

}  // namespace minibit::storage
