#include "minibit/loadgen/swarm_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <utility>

#include <fmt/format.h>

namespace minibit::loadgen {
namespace {

constexpr std::size_t line_bytes = 76;
constexpr std::uint64_t tail_check_bytes = 4096;
// compare_copy reads this much at a time: small enough to stay in the L2 cache.
constexpr std::size_t compare_chunk_bytes = std::size_t{1} << 20U;

// Closes a descriptor on every return path.
struct fd_guard {
    int fd = -1;
    explicit fd_guard(int f) : fd(f) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

std::unexpected<error> io_error(std::string_view what, const std::filesystem::path& path) {
    return fail(loadgen_errc::io,
                fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

// pread until `out` is full or end of file; returns the bytes read, or -1.
ssize_t read_fully(int fd, char* out, std::size_t len, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

bool write_fully(int fd, const char* data, std::size_t len, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// Opens a regular file read-only and gives its size through `size`.
result<void> open_regular(const std::filesystem::path& path, fd_guard& fd, std::uint64_t& size) {
    fd.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO: no wait
    if (fd.fd < 0) return io_error("cannot open", path);
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) return io_error("cannot stat", path);
    if (!S_ISREG(st.st_mode))
        return fail(loadgen_errc::io, fmt::format("{} is not a regular file", path.string()));
    size = static_cast<std::uint64_t>(st.st_size);
    return {};
}

}  // namespace

std::uint32_t piece_geometry::piece_count() const {
    if (piece_length == 0) return 0;
    return static_cast<std::uint32_t>((total_length + piece_length - 1) / piece_length);
}

std::uint64_t piece_geometry::size(piece_index i) const {
    const std::uint64_t start = offset(i);
    if (start >= total_length) return 0;
    return std::min(piece_length, total_length - start);
}

result<void> generate_text_file(const std::filesystem::path& path, std::uint64_t size_bytes,
                                std::uint64_t seed) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::mt19937_64 rng(seed);
    std::string text;
    text.reserve(static_cast<std::size_t>(size_bytes));
    while (text.size() < size_bytes) {
        const bool end_of_line = (text.size() + 1) % (line_bytes + 1) == 0;
        text.push_back(end_of_line ? '\n' : alphabet[rng() % alphabet.size()]);
    }
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    const std::filesystem::path tmp = path.string() + ".part";
    {
        fd_guard fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (fd.fd < 0) return io_error("cannot create", tmp);
        if (!write_fully(fd.fd, text.data(), text.size(), 0)) return io_error("cannot write", tmp);
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec)
        return fail(loadgen_errc::io,
                    fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
    return {};
}

result<std::string> read_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
    fd_guard fd(-1);
    std::uint64_t size = 0;
    if (auto opened = open_regular(path, fd, size); !opened) return std::unexpected(opened.error());
    if (size > max_bytes) {
        return fail(loadgen_errc::io,
                    fmt::format("{} is larger than {} bytes", path.string(), max_bytes));
    }
    std::string data(static_cast<std::size_t>(size), '\0');
    const ssize_t n = read_fully(fd.fd, data.data(), data.size(), 0);
    if (n < 0) return io_error("cannot read", path);
    data.resize(static_cast<std::size_t>(n));
    return data;
}

result<mapped_file> mapped_file::open(const std::filesystem::path& path) {
    fd_guard fd(-1);
    std::uint64_t bytes = 0;
    if (auto opened = open_regular(path, fd, bytes); !opened)
        return std::unexpected(opened.error());
    mapped_file m;
    if (bytes == 0) return m;
    const auto size = static_cast<std::size_t>(bytes);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (p == MAP_FAILED) return io_error("cannot map", path);
    m.data_ = p;
    m.size_ = size;
    return m;
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr) ::munmap(data_, size_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

mapped_file::~mapped_file() {
    if (data_ != nullptr) ::munmap(data_, size_);
}

std::vector<std::vector<piece_index>> scatter_pieces(std::uint32_t piece_count, std::uint32_t peers,
                                                     std::uint64_t seed) {
    std::vector<std::vector<piece_index>> out(peers);
    if (peers == 0) return out;
    std::vector<std::uint32_t> order(piece_count);
    std::iota(order.begin(), order.end(), 0U);
    std::mt19937_64 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::uint32_t k = 0; k < piece_count; ++k) out[k % peers].emplace_back(order[k]);
    for (auto& list : out) std::sort(list.begin(), list.end());
    return out;
}

result<void> write_partial_copy(std::string_view original, const std::filesystem::path& copy,
                                const piece_geometry& geometry,
                                std::span<const piece_index> pieces) {
    std::error_code ec;
    if (copy.has_parent_path()) std::filesystem::create_directories(copy.parent_path(), ec);
    fd_guard fd(::open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.fd < 0) return io_error("cannot create", copy);
    if (::ftruncate(fd.fd, static_cast<off_t>(original.size())) != 0)
        return io_error("cannot size", copy);
    for (const piece_index p : pieces) {
        const std::uint64_t start = geometry.offset(p);
        const std::uint64_t len = geometry.size(p);
        if (start + len > original.size())
            continue;  // geometry and file disagree: skip, never overrun
        if (!write_fully(fd.fd, original.data() + start, static_cast<std::size_t>(len), start)) {
            return io_error("cannot write", copy);
        }
    }
    return {};
}

void update_presence(std::string_view original, const std::filesystem::path& copy,
                     const piece_geometry& geometry, std::vector<bool>& have) {
    const std::uint32_t count = geometry.piece_count();
    have.resize(count, false);
    fd_guard fd(::open(copy.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) return;
    std::string buf;
    for (piece_index p{0}; p.get() < count; ++p) {
        if (have[p.get()]) continue;
        const std::uint64_t start = geometry.offset(p);
        const std::uint64_t len = geometry.size(p);
        if (start + len > original.size()) break;
        // Blocks mostly arrive in order: check the piece's tail first, so a missing piece
        // (a hole) costs one small read rather than a whole piece.
        const std::uint64_t tail = std::min<std::uint64_t>(len, tail_check_bytes);
        buf.resize(static_cast<std::size_t>(tail));
        ssize_t n = read_fully(fd.fd, buf.data(), buf.size(), start + len - tail);
        if (n != static_cast<ssize_t>(tail) ||
            std::memcmp(buf.data(), original.data() + start + len - tail, buf.size()) != 0) {
            continue;
        }
        buf.resize(static_cast<std::size_t>(len));
        n = read_fully(fd.fd, buf.data(), buf.size(), start);
        have[p.get()] = n == static_cast<ssize_t>(len) &&
                        std::memcmp(buf.data(), original.data() + start, buf.size()) == 0;
    }
}

std::optional<file_stamp> stamp_of(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return file_stamp{static_cast<std::uint64_t>(st.st_size),
                      std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// Compares by pread into one small buffer that stays in the cache, against the original's
// mapping: no buffer per copy to allocate and fill (reading nine 256 MiB copies into fresh strings
// took ~10 s of page clearing and copying here), and no mapping of the copy either (setting up
// and tearing down 65,536 page-table entries per 256 MiB copy cost about 3x the reads).
bool identical_copy(std::string_view original, const std::filesystem::path& copy) {
    return compare_copy(original, copy).value_or(false);
}

std::optional<bool> compare_copy(std::string_view original, const std::filesystem::path& copy) {
    // Out of descriptors or memory: the copy's bytes are unknown, not different.
    const auto unknown = [](int e) { return e == EMFILE || e == ENFILE || e == ENOMEM; };
    fd_guard fd(::open(copy.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0 && unknown(errno)) return std::nullopt;
    struct stat st {};
    if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != original.size()) {
        return false;
    }
    if (original.empty()) return true;
    const auto buf = std::make_unique_for_overwrite<char[]>(compare_chunk_bytes);
    for (std::uint64_t at = 0; at < original.size();) {
        const auto want = static_cast<std::size_t>(
            std::min<std::uint64_t>(compare_chunk_bytes, original.size() - at));
        const ssize_t n = read_fully(fd.fd, buf.get(), want, at);
        if (n < 0 && unknown(errno)) return std::nullopt;
        if (n != static_cast<ssize_t>(want) ||
            std::memcmp(buf.get(), original.data() + at, want) != 0) {
            return false;  // unreadable, cut short meanwhile, or different
        }
        at += want;
    }
    return true;
}

}  // namespace minibit::loadgen
