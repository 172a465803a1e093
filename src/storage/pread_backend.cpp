// The pread/pwrite back end: plain positioned system calls, no mappings. The baseline the
// mmap back end is benchmarked against, and the safe choice for sparse files (ENOSPC is an
// errno here, never a signal). Hashing reads through one bounded buffer.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "file_backend.hpp"

namespace minibit::storage {

namespace {

/// Bytes read per system call when hashing: large enough to amortise the call, small enough
/// to stay in L2.
constexpr std::size_t visit_chunk_bytes = std::size_t{256} * 1024;

/// Reads s.length bytes of file s.file at s.offset into dst; a short file is a fault.
result<void> read_segment(const file_set& files, const file_segment& s, std::byte* dst) {
    const open_file& f = files[s.file];
    std::uint64_t done = 0;
    while (done < s.length) {
        const ssize_t n = ::pread(f.fd, dst + done, s.length - done,
                                  static_cast<off_t>(s.offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return std::unexpected(io_error(errno, "pread", f.full_path));
        }
        if (n == 0) {
            return fail(storage_errc::fault, "file " + f.full_path.string() +
                                                 " was truncated (end of file at byte " +
                                                 std::to_string(s.offset + done) + ")");
        }
        done += static_cast<std::uint64_t>(n);
    }
    return {};
}

}  // namespace

result<void> visit_by_pread(const torrent_layout& layout, const file_set& files,
                            std::uint64_t start, std::uint64_t length, const chunk_visitor& fn) {
    // Per thread, not per back end: a hashing worker and a reactor thread may visit at once.
    thread_local std::vector<std::uint8_t> buffer;
    buffer.resize(visit_chunk_bytes);
    auto* buf = reinterpret_cast<std::byte*>(buffer.data());
    result<void> status;
    layout.for_each_segment(start, length, [&](const file_segment& s) {
        for (std::uint64_t done = 0; done < s.length && status;) {
            const std::uint64_t n = std::min<std::uint64_t>(visit_chunk_bytes, s.length - done);
            status = read_segment(files, file_segment{s.file, s.offset + done, n}, buf);
            if (status) {
                fn(std::span<const std::uint8_t>(buffer.data(), n));
            }
            done += n;
        }
        return status.has_value();
    });
    return status;
}

namespace {

class pread_backend final : public file_backend {
public:
    using file_backend::file_backend;

    result<void> read(std::uint64_t start, std::span<std::byte> out) override;
    result<void> visit(std::uint64_t start, std::uint64_t length, const chunk_visitor& fn) override;
    [[nodiscard]] result<block_span_list> spans(std::uint64_t, std::uint64_t) const override {
        return fail(storage_errc::unsupported, "block_spans needs the mmap back end");
    }
    void advise_done(std::uint64_t, std::uint64_t) override {}
    void release() override {}

private:
    [[nodiscard]] result<void> write_segment(const file_segment& s,
                                             const std::byte* src) const override;
};

result<void> pread_backend::write_segment(const file_segment& s, const std::byte* src) const {
    const open_file& f = files_[s.file];
    return write_all(f, s.offset, src, s.length);
}

result<void> pread_backend::read(std::uint64_t start, std::span<std::byte> out) {
    result<void> status;
    std::byte* dst = out.data();
    layout_.for_each_segment(start, out.size(), [&](const file_segment& s) {
        status = read_segment(files_, s, dst);
        dst += s.length;
        return status.has_value();
    });
    return status;
}

result<void> pread_backend::visit(std::uint64_t start, std::uint64_t length,
                                  const chunk_visitor& fn) {
    return visit_by_pread(layout_, files_, start, length, fn);
}

}  // namespace

std::unique_ptr<file_backend> make_pread_backend(torrent_layout layout, file_set files) {
    return std::make_unique<pread_backend>(std::move(layout), std::move(files));
}

}  // namespace minibit::storage
