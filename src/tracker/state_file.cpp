#include "minibit/tracker/state_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "minibit/core/small_file.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

constexpr std::array<std::uint8_t, 8> magic{'M', 'B', 'S', 'T', 'A', 'T', 'E', 0};
constexpr std::size_t swarm_head_bytes = 20 + 4 + 4 + 4;
constexpr std::uint32_t seeder_bit = 0x80000000U;
constexpr std::size_t trailer_bytes = 8;

template <class T>
void put(std::vector<std::uint8_t>& out, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
    }
}

template <class T>
void put_at(std::vector<std::uint8_t>& out, std::size_t at, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out[at + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i));
    }
}

template <class T>
T get(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{p[i]} << (8 * i);
    return static_cast<T>(v);
}

/// Writes a list's records at `dst` (10 or 22 bytes each); returns the end.
template <std::size_t N>
std::uint8_t* put_list(std::uint8_t* dst, const peer_list<N>& list, std::uint16_t now_stamp) {
    for (std::size_t s = 0; s < list.capacity(); ++s) {
        const peer_record<N>& r = list.at(s);
        if (r.empty()) continue;
        std::memcpy(dst, r.endpoint.data(), N);
        const std::uint32_t age = static_cast<std::uint32_t>(stamp_age(now_stamp, r.stamp()) *
                                                             stamp_tick_seconds) |
                                  (r.seeder() ? seeder_bit : 0U);
        for (std::size_t i = 0; i < 4; ++i) dst[N + i] = static_cast<std::uint8_t>(age >> (8 * i));
        dst += N + 4;
    }
    return dst;
}

peer_entry entry_of(const std::uint8_t* p, std::size_t endpoint_bytes) {
    peer_entry e;
    const std::size_t ip = endpoint_bytes - 2;
    std::memcpy(e.peer.address.data(), p, ip);
    e.peer.address_bytes = static_cast<std::uint8_t>(ip);
    e.peer.port = static_cast<std::uint16_t>((p[ip] << 8U) | p[ip + 1]);
    const auto word = get<std::uint32_t>(p + endpoint_bytes);
    e.seeder = (word & seeder_bit) != 0;
    e.age = seconds(word & ~seeder_bit);
    return e;
}

/// Walks the swarm records of a checked file; calls fn only when `deliver`.
result<void> walk(std::span<const std::uint8_t> bytes, const state_header& h,
                  const state_swarm_fn* fn) {
    const std::size_t end = bytes.size() - trailer_bytes;
    std::size_t at = state_header_bytes;
    std::uint64_t peers = 0;
    std::vector<peer_entry> entries;
    for (std::uint64_t i = 0; i < h.swarms; ++i) {
        if (end - at < swarm_head_bytes)
            return fail(state_errc::truncated, "swarm record cut short", at);
        info_hash hash;
        std::memcpy(hash.bytes.data(), bytes.data() + at, 20);
        const auto downloaded = get<std::uint32_t>(bytes.data() + at + 20);
        const std::uint64_t n4 = get<std::uint32_t>(bytes.data() + at + 24);
        const std::uint64_t n6 = get<std::uint32_t>(bytes.data() + at + 28);
        at += swarm_head_bytes;
        if ((end - at) < n4 * 10 || (end - at - n4 * 10) < n6 * 22) {
            return fail(state_errc::truncated, "peer records cut short", at);
        }
        peers += n4 + n6;
        if (fn != nullptr) {
            entries.clear();
            for (std::uint64_t k = 0; k < n4; ++k)
                entries.push_back(entry_of(bytes.data() + at + k * 10, 6));
            for (std::uint64_t k = 0; k < n6; ++k) {
                entries.push_back(entry_of(bytes.data() + at + n4 * 10 + k * 22, 18));
            }
            (*fn)(hash, downloaded, entries);
        }
        at += n4 * 10 + n6 * 22;
    }
    if (at != end) return fail(state_errc::bad_record, "bytes after the last swarm", at);
    if (peers != h.peers)
        return fail(state_errc::bad_record, "peer count does not match the header", 40);
    return {};
}

}  // namespace

state_writer::state_writer(std::chrono::system_clock::time_point written, seconds peer_timeout) {
    out_.reserve(1U << 16U);
    out_.insert(out_.end(), magic.begin(), magic.end());
    put<std::uint32_t>(out_, state_format_version);
    put<std::uint32_t>(out_, 0);
    put<std::int64_t>(
        out_,
        std::chrono::duration_cast<std::chrono::milliseconds>(written.time_since_epoch()).count());
    put<std::uint64_t>(out_, static_cast<std::uint64_t>(peer_timeout.count()));
    put<std::uint64_t>(out_, 0);  // swarm count, filled by finish()
    put<std::uint64_t>(out_, 0);  // peer count, filled by finish()
}

void state_writer::encode_shard(const swarm_shard& shard, seconds now) {
    // Sized once for the shard, written in place: the lock is held for a pass over the records.
    scratch_.resize(shard.torrent_count() * swarm_head_bytes + shard.peer_count() * 22);
    std::uint8_t* dst = scratch_.data();
    // The stamp of `now`, as the shard computes it (whole ticks of the table's clock).
    const std::uint16_t now_stamp = stamp_of(
        static_cast<std::uint64_t>(now.count() / stamp_tick_seconds));
    shard.for_each_swarm([&](const info_hash& hash, const swarm& s) {
        if (s.peer_count() == 0) return;
        std::memcpy(dst, hash.bytes.data(), 20);
        const std::array<std::uint32_t, 3> head{s.downloaded,
                                                static_cast<std::uint32_t>(s.v4.size()),
                                                static_cast<std::uint32_t>(s.v6.size())};
        for (std::size_t k = 0; k < 3; ++k) {
            for (std::size_t i = 0; i < 4; ++i)
                dst[20 + 4 * k + i] = static_cast<std::uint8_t>(head[k] >> (8 * i));
        }
        dst = put_list(put_list(dst + swarm_head_bytes, s.v4, now_stamp), s.v6, now_stamp);
        ++swarms_;
        peers_ += s.peer_count();
    });
    scratch_.resize(static_cast<std::size_t>(dst - scratch_.data()));
}

void state_writer::commit_shard() {
    out_.insert(out_.end(), scratch_.begin(), scratch_.end());
    scratch_.clear();
}

std::vector<std::uint8_t> state_writer::finish() {
    put_at<std::uint64_t>(out_, 32, swarms_);
    put_at<std::uint64_t>(out_, 40, peers_);
    put<std::uint64_t>(out_, XXH3_64bits(out_.data(), out_.size()));
    return std::move(out_);
}

result<state_header> read_state_header(std::span<const std::uint8_t> bytes) {
    const bool magic_ok = bytes.size() >= magic.size() &&
                          std::equal(magic.begin(), magic.end(), bytes.begin());
    if (!magic_ok && bytes.size() >= magic.size()) {
        return fail(state_errc::bad_magic, "not a tracker state file", 0);
    }
    if (bytes.size() < state_header_bytes + trailer_bytes) {
        return fail(state_errc::truncated, "shorter than a header", bytes.size());
    }
    if (const auto v = get<std::uint32_t>(bytes.data() + 8); v != state_format_version) {
        return fail(state_errc::bad_version,
                    "format version " + std::to_string(v) + ", expected " +
                        std::to_string(state_format_version),
                    8);
    }
    // Unix milliseconds up to the year 2100: a damaged value must not overflow the clock's
    // nanoseconds.
    const auto written_ms = get<std::int64_t>(bytes.data() + 16);
    if (written_ms < 0 || written_ms > 4102444800000) {
        return fail(state_errc::bad_record, "write time out of range", 16);
    }
    state_header h;
    h.written = std::chrono::system_clock::time_point(std::chrono::milliseconds(written_ms));
    h.peer_timeout = seconds(static_cast<std::int64_t>(get<std::uint64_t>(bytes.data() + 24)));
    h.swarms = get<std::uint64_t>(bytes.data() + 32);
    h.peers = get<std::uint64_t>(bytes.data() + 40);
    return h;
}

result<state_header> read_state(std::span<const std::uint8_t> bytes, const state_swarm_fn& fn) {
    auto h = read_state_header(bytes);
    if (!h) return h;
    const std::size_t body = bytes.size() - trailer_bytes;
    if (XXH3_64bits(bytes.data(), body) != get<std::uint64_t>(bytes.data() + body)) {
        return fail(state_errc::bad_checksum, "checksum mismatch (truncated or damaged)", body);
    }
    if (auto ok = walk(bytes, *h, nullptr); !ok) return std::unexpected(std::move(ok.error()));
    if (auto ok = walk(bytes, *h, &fn); !ok) return std::unexpected(std::move(ok.error()));
    return h;
}

namespace {

std::unexpected<error> io_fail(const std::string& what, const std::filesystem::path& p, int err) {
    return fail(state_errc::io, what + " " + p.string() + ": " + std::strerror(err));
}

/// Closes a descriptor on every path out.
struct fd_closer {
    int fd;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

result<void> write_file_atomically(const std::filesystem::path& path,
                                   std::span<const std::uint8_t> bytes) {
    std::filesystem::path tmp = path;
    tmp += ".tmp";
    fd_closer f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (f.fd < 0) return io_fail("cannot create", tmp, errno);
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            ::unlink(tmp.c_str());
            return io_fail("cannot write", tmp, err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return io_fail("cannot fsync", tmp, err);
    }
    ::close(f.fd);
    f.fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return io_fail("cannot rename onto", path, err);
    }
    // The rename is durable only once the folder's entry is on disk.
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    fd_closer d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd < 0 || ::fsync(d.fd) != 0) return io_fail("cannot fsync the folder", dir, errno);
    return {};
}

result<std::vector<std::uint8_t>> read_whole_file(const std::filesystem::path& path,
                                                  std::size_t max_bytes) {
    auto text = read_small_file(path, max_bytes);  // a FIFO: refused, never waited on
    if (!text) {
        return fail(is(text.error(), file_errc::too_large) ? state_errc::too_large : state_errc::io,
                    std::move(text.error().reason));
    }
    return std::vector<std::uint8_t>(text->begin(), text->end());
}

}  // namespace minibit::tracker
