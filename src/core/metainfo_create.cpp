// create_torrent: hashes a file or a folder into a new .torrent (the parsing half of
// metainfo.hpp lives in metainfo.cpp).
#include "minibit/core/metainfo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "minibit/core/bencode.hpp"

namespace minibit {

namespace {
namespace fs = std::filesystem;

struct source_file {
    fs::path full;  // where to read it
    fs::path rel;   // path inside the torrent (multi-file)
    std::uint64_t size = 0;
};

// Auto piece length: a power of two giving at most ~1500 pieces, clamped to 16 KiB..16 MiB.
constexpr std::uint64_t auto_target_pieces = 1500;
constexpr std::uint64_t auto_min_piece_bytes = std::uint64_t{16} << 10U;
constexpr std::uint64_t auto_max_piece_bytes = std::uint64_t{16} << 20U;
// Read size for hashing: large enough to amortise the syscall, small enough to stay in cache.
constexpr std::size_t hash_chunk_bytes = std::size_t{1} << 20U;

result<std::vector<source_file>> list_folder(const fs::path& dir) {
    std::vector<source_file> out;
    std::error_code ec;
    // The default options do not follow directory symlinks; file symlinks are skipped below.
    fs::recursive_directory_iterator it(dir, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::directory_entry& e = *it;
        std::error_code sec;
        if (e.is_symlink(sec) || !e.is_regular_file(sec)) {
            continue;
        }
        const auto size = e.file_size(sec);
        if (sec) {
            return fail(metainfo_errc::io, e.path().string() + ": " + sec.message());
        }
        out.push_back(source_file{e.path(), e.path().lexically_relative(dir), size});
    }
    if (ec) {
        return fail(metainfo_errc::io, dir.string() + ": " + ec.message());
    }
    std::sort(out.begin(), out.end(),
              [](const source_file& a, const source_file& b) { return a.rel < b.rel; });
    return out;
}

result<std::uint64_t> choose_piece_length(std::uint64_t total, const create_options& o) {
    const std::uint64_t max_piece = metainfo_limits{}.max_piece_length;
    std::uint64_t plen = 0;
    if (o.piece_length > 0) {
        plen = o.piece_length;
    } else if (o.piece_count > 0) {
        plen = (total + o.piece_count - 1) / o.piece_count;
        // Transmission derives its block size by halving the piece length down to <= 16 KiB and
        // refuses a torrent when that does not divide the piece (any odd length > 16 KiB); a
        // multiple of 16 KiB always divides, at the cost of a piece count slightly below the ask.
        if (plen > block_size_bytes) {
            plen = (plen + block_size_bytes - 1) / block_size_bytes * block_size_bytes;
        }
    } else {
        plen = auto_piece_length(total);
    }
    if (plen > max_piece) {
        return fail(metainfo_errc::bad_value,
                    "piece length " + std::to_string(plen) + " above the 256 MiB limit");
    }
    return plen;
}

// Feeds one file to the hasher, closing a piece every `plen` bytes across file boundaries.
result<void> hash_file(const source_file& f, std::uint64_t plen, std::vector<std::uint8_t>& buf,
                       sha1_hasher& h, std::uint64_t& in_piece, std::string& pieces) {
    const int fd = ::open(f.full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fail(metainfo_errc::io, f.full.string() + ": " + std::strerror(errno));
    }
    std::uint64_t left = f.size;
    while (left > 0) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
        const ssize_t n = ::read(fd, buf.data(), want);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            const std::string why = n == 0 ? "file shrank while hashing" : std::strerror(errno);
            ::close(fd);
            return fail(metainfo_errc::io, f.full.string() + ": " + why);
        }
        std::span<const std::uint8_t> chunk(buf.data(), static_cast<std::size_t>(n));
        left -= chunk.size();
        while (!chunk.empty()) {
            const auto take = static_cast<std::size_t>(
                std::min<std::uint64_t>(chunk.size(), plen - in_piece));
            h.update(chunk.first(take));
            chunk = chunk.subspan(take);
            in_piece += take;
            if (in_piece == plen) {
                pieces.append(h.finish().view());
                in_piece = 0;
            }
        }
    }
    ::close(fd);
    return {};
}

result<std::string> hash_pieces(const std::vector<source_file>& files, std::uint64_t plen) {
    std::vector<std::uint8_t> buf(hash_chunk_bytes);
    sha1_hasher h;
    std::uint64_t in_piece = 0;
    std::string pieces;
    for (const auto& f : files) {
        if (auto ok = hash_file(f, plen, buf, h, in_piece, pieces); !ok) {
            return std::unexpected(std::move(ok.error()));
        }
    }
    if (in_piece > 0) {
        pieces.append(h.finish().view());
    }
    return pieces;
}

bvalue build_info(const std::string& name, const std::vector<source_file>& files, bool multi,
                  std::uint64_t plen, std::string pieces, bool is_private) {
    bvalue info = bvalue::make_dict();
    if (multi) {
        bvalue list = bvalue::make_list();
        for (const auto& f : files) {
            bvalue path = bvalue::make_list();
            for (const auto& part : f.rel) {
                path.push_back(bvalue(part.string()));
            }
            bvalue entry = bvalue::make_dict();
            entry.insert("length", bvalue(static_cast<std::int64_t>(f.size)));
            entry.insert("path", std::move(path));
            list.push_back(std::move(entry));
        }
        info.insert("files", std::move(list));
    } else {
        info.insert("length", bvalue(static_cast<std::int64_t>(files.front().size)));
    }
    info.insert("name", bvalue(name));
    info.insert("piece length", bvalue(static_cast<std::int64_t>(plen)));
    info.insert("pieces", bvalue(std::move(pieces)));
    if (is_private) {
        info.insert("private", bvalue(1));
    }
    return info;
}

bvalue build_root(bvalue info, const create_options& o) {
    bvalue root = bvalue::make_dict();
    if (!o.trackers.empty()) {
        root.insert("announce", bvalue(o.trackers.front()));
    }
    if (o.trackers.size() > 1) {
        // BEP 12: one tracker per tier in the order given (a client falls back tier by tier),
        // or all in one tier (a client uses whichever answers and keeps it first).
        bvalue tiers = bvalue::make_list();
        if (o.one_tier) {
            bvalue tier = bvalue::make_list();
            for (const auto& t : o.trackers) tier.push_back(bvalue(t));
            tiers.push_back(std::move(tier));
        } else {
            for (const auto& t : o.trackers) {
                tiers.push_back(bvalue(bvalue::list_type{bvalue(t)}));
            }
        }
        root.insert("announce-list", std::move(tiers));
    }
    if (!o.comment.empty()) {
        root.insert("comment", bvalue(o.comment));
    }
    if (!o.created_by.empty()) {
        root.insert("created by", bvalue(o.created_by));
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    root.insert("creation date", bvalue(o.creation_date.value_or(now.count())));
    root.insert("info", std::move(info));
    return root;
}

}  // namespace

std::uint64_t auto_piece_length(std::uint64_t total_bytes) {
    // Written without total + 1499 so that no input can wrap; bit_ceil's argument stays < 2^54.
    const std::uint64_t per_piece = total_bytes / auto_target_pieces +
                                    (total_bytes % auto_target_pieces != 0 ? 1U : 0U);
    const std::uint64_t plen = std::bit_ceil(per_piece);
    return std::clamp(plen, auto_min_piece_bytes, auto_max_piece_bytes);
}

result<std::string> create_torrent(const std::filesystem::path& source,
                                   const create_options& options) {
    std::error_code ec;
    const auto full = fs::canonical(source, ec);
    if (ec) {
        return fail(metainfo_errc::io, source.string() + ": " + ec.message());
    }
    const std::string name = full.filename().string();
    if (name.empty()) {
        return fail(metainfo_errc::bad_path, source.string() + ": no usable name");
    }
    const bool multi = fs::is_directory(full, ec);
    std::vector<source_file> files;
    if (multi) {
        auto listed = list_folder(full);
        if (!listed) {
            return std::unexpected(std::move(listed.error()));
        }
        files = std::move(*listed);
    } else if (fs::is_regular_file(full, ec)) {
        files.push_back(source_file{full, full.filename(), fs::file_size(full, ec)});
    }
    if (ec) {
        return fail(metainfo_errc::io, source.string() + ": " + ec.message());
    }
    std::uint64_t total = 0;
    for (const auto& f : files) {
        total += f.size;
    }
    if (total == 0) {
        return fail(metainfo_errc::bad_value, source.string() + ": nothing to share (no data)");
    }
    if (files.size() > metainfo_limits{}.max_files) {
        return fail(metainfo_errc::bad_value, source.string() + ": more files than the limit");
    }
    auto plen = choose_piece_length(total, options);
    if (!plen) {
        return std::unexpected(std::move(plen.error()));
    }
    auto pieces = hash_pieces(files, *plen);
    if (!pieces) {
        return std::unexpected(std::move(pieces.error()));
    }
    bvalue info = build_info(name, files, multi, *plen, std::move(*pieces), options.is_private);
    return bencode(build_root(std::move(info), options));
}

}  // namespace minibit
