#include "resume_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "minibit/storage/piece_store.hpp"

namespace minibit::storage {

namespace {

constexpr std::string_view resume_magic = "MBRESUM1";

/// Exact size of a resume file for these counts.
std::uint64_t resume_size(std::size_t file_count, std::uint32_t piece_count) {
    return resume_magic.size() + 20 + 4 + 4 + std::uint64_t{16} * file_count +
           (std::uint64_t{piece_count} + 7) / 8 + std::uint64_t{8} * piece_count + 8;
}

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
    }
}

/// Reads little-endian integers from a span whose size the caller has already checked.
struct le_reader {
    std::span<const std::uint8_t> bytes;
    std::size_t pos = 0;

    std::uint64_t take(int n) {
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) {
            v |= std::uint64_t{bytes[pos++]} << (8 * i);
        }
        return v;
    }
};

}  // namespace

std::string encode_resume(const resume_data& data) {
    std::string out(resume_magic);
    out.append(data.hash.view());
    put_le(out, data.files.size(), 4);
    put_le(out, data.have.size(), 4);
    for (const file_stamp& f : data.files) {
        put_le(out, f.size, 8);
        put_le(out, static_cast<std::uint64_t>(f.mtime_ns), 8);
    }
    const auto bits = data.have.bytes();
    out.append(reinterpret_cast<const char*>(bits.data()), bits.size());
    for (std::size_t i = 0; i < data.have.size(); ++i) {
        put_le(out, i < data.xxh3.size() ? data.xxh3[i] : 0, 8);
    }
    put_le(out, XXH3_64bits(out.data(), out.size()), 8);
    return out;
}

result<resume_data> decode_resume(std::span<const std::uint8_t> bytes, const info_hash& hash,
                                  std::size_t file_count, std::uint32_t piece_count) {
    const std::uint64_t want = resume_size(file_count, piece_count);
    if (bytes.size() != want) {
        return fail(storage_errc::bad_resume,
                    "size " + std::to_string(bytes.size()) + ", expected " + std::to_string(want));
    }
    const std::size_t body = bytes.size() - 8;
    le_reader tail{bytes, body};
    if (tail.take(8) != XXH3_64bits(bytes.data(), body)) {
        return fail(storage_errc::bad_resume, "checksum mismatch", body);
    }
    if (std::memcmp(bytes.data(), resume_magic.data(), resume_magic.size()) != 0) {
        return fail(storage_errc::bad_resume, "bad magic", 0);
    }
    resume_data out;
    out.hash.bytes = {};
    std::memcpy(out.hash.bytes.data(), bytes.data() + resume_magic.size(), 20);
    if (out.hash != hash) {
        return fail(storage_errc::bad_resume, "belongs to another torrent", resume_magic.size());
    }
    le_reader in{bytes, resume_magic.size() + 20};
    if (in.take(4) != file_count) {
        return fail(storage_errc::bad_resume, "file count differs", in.pos - 4);
    }
    if (in.take(4) != piece_count) {
        return fail(storage_errc::bad_resume, "piece count differs", in.pos - 4);
    }
    for (std::size_t i = 0; i < file_count; ++i) {
        const std::uint64_t size = in.take(8);
        out.files.push_back(file_stamp{size, static_cast<std::int64_t>(in.take(8))});
    }
    const std::size_t bit_bytes = (std::size_t{piece_count} + 7) / 8;
    auto have = bitfield::from_wire(bytes.subspan(in.pos, bit_bytes), piece_count);
    if (!have) {
        return fail(storage_errc::bad_resume, "bad have bitfield", in.pos);
    }
    out.have = std::move(*have);
    in.pos += bit_bytes;
    out.xxh3.reserve(piece_count);
    for (std::uint32_t i = 0; i < piece_count; ++i) {
        out.xxh3.push_back(in.take(8));
    }
    return out;
}

result<std::optional<resume_data>> load_resume(const std::filesystem::path& path,
                                               const info_hash& hash, std::size_t file_count,
                                               std::uint32_t piece_count) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO: no wait
    if (fd < 0) {
        if (errno == ENOENT) {
            return std::optional<resume_data>{};
        }
        return std::unexpected(io_error(errno, "open", path));
    }
    struct stat st {};
    const std::uint64_t want = resume_size(file_count, piece_count);
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != want) {
        ::close(fd);
        return fail(storage_errc::bad_resume, "resume file has the wrong size: " + path.string());
    }
    std::vector<std::uint8_t> bytes(want);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ::close(fd);
            return fail(storage_errc::bad_resume, "short read of " + path.string());
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    auto data = decode_resume(bytes, hash, file_count, piece_count);
    if (!data) {
        return std::unexpected(std::move(data.error()));
    }
    return std::optional<resume_data>{std::move(*data)};
}

result<void> write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
    std::filesystem::path temp = path;
    temp += ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return std::unexpected(io_error(errno, "open", temp));
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            ::close(fd);
            ::unlink(temp.c_str());
            return std::unexpected(io_error(err, "write", temp));
        }
        done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fdatasync(fd) == 0;
    const int sync_err = errno;
    ::close(fd);
    if (!synced) {
        ::unlink(temp.c_str());
        return std::unexpected(io_error(sync_err, "fdatasync", temp));
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return std::unexpected(io_error(err, "rename", temp));
    }
    return {};
}

}  // namespace minibit::storage
