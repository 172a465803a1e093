// read_small_file: one non-blocking open, an fstat that refuses anything but a regular file
// within the bound, then plain reads until the end (a file that shrinks meanwhile ends early,
// one that grows is cut at the size fstat saw, never past the bound).
#include "minibit/core/small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace minibit {

namespace {

struct fd_closer {
    int fd;
    explicit fd_closer(int f) : fd(f) {}
    fd_closer(const fd_closer&) = delete;
    fd_closer& operator=(const fd_closer&) = delete;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

std::unexpected<error> io_failure(const std::filesystem::path& path, int err) {
    return fail(file_errc::io, fmt::format("{}: {}", path.string(), std::strerror(err)));
}

}  // namespace

result<std::string> read_small_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it changes
    // nothing for the regular files that are all this reads.
    const fd_closer f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
    if (f.fd < 0) return io_failure(path, errno);
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) return io_failure(path, errno);
    if (!S_ISREG(st.st_mode)) {
        return fail(file_errc::not_regular, fmt::format("{}: not a regular file", path.string()));
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
        return fail(file_errc::too_large,
                    fmt::format("{}: larger than {} bytes", path.string(), max_bytes));
    }
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_failure(path, errno);
        }
        if (n == 0) break;  // the file shrank while we read it
        done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

result<std::string> read_first_line(const std::filesystem::path& path) {
    auto text = read_small_file(path, 64U << 10U);
    if (!text) return text;
    std::string_view line(*text);
    line = line.substr(0, line.find('\n'));
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return std::string();
    const auto last = line.find_last_not_of(" \t\r");
    return std::string(line.substr(first, last - first + 1));
}

}  // namespace minibit
