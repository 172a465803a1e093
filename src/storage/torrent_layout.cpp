#include "torrent_layout.hpp"

#include <algorithm>
#include <string>

#include "minibit/storage/piece_store.hpp"

namespace minibit::storage {

namespace {

/// True when p stays inside the download folder: relative, non-empty, no "..", no root part.
bool path_is_contained(const std::filesystem::path& p) {
    if (p.empty() || p.has_root_path()) {
        return false;
    }
    return std::none_of(p.begin(), p.end(), [](const std::filesystem::path& part) {
        return part.empty() || part == ".." || part == ".";
    });
}

}  // namespace

result<torrent_layout> torrent_layout::from(const metainfo& torrent) {
    torrent_layout out;
    if (torrent.piece_length == 0) {
        return fail(storage_errc::bad_layout, "piece length is zero");
    }
    if (torrent.files.empty()) {
        return fail(storage_errc::bad_layout, "torrent has no files");
    }
    std::uint64_t expected_offset = 0;
    for (const file_entry& f : torrent.files) {
        if (f.offset != expected_offset) {
            return fail(storage_errc::bad_layout,
                        "file " + f.path.string() + " does not start where the previous ends");
        }
        if (!path_is_contained(f.path)) {
            return fail(storage_errc::bad_layout,
                        "file path escapes the folder: " + f.path.string());
        }
        if (f.length > UINT64_MAX - expected_offset) {
            return fail(storage_errc::bad_layout, "total length overflows");
        }
        expected_offset += f.length;
        out.files_.push_back(file_slot{f.path, f.length, f.offset});
    }
    if (expected_offset != torrent.total_length) {
        return fail(storage_errc::bad_layout, "file lengths do not add up to the total length");
    }
    const std::uint64_t pieces = torrent.total_length / torrent.piece_length +
                                 (torrent.total_length % torrent.piece_length != 0 ? 1U : 0U);
    if (pieces != torrent.piece_hashes.size() || pieces > UINT32_MAX) {
        return fail(storage_errc::bad_layout, "expected " + std::to_string(pieces) +
                                                  " piece hashes, got " +
                                                  std::to_string(torrent.piece_hashes.size()));
    }
    out.total_length_ = torrent.total_length;
    out.piece_length_ = torrent.piece_length;
    out.piece_count_ = static_cast<std::uint32_t>(pieces);
    return out;
}

std::uint64_t torrent_layout::piece_size(piece_index i) const {
    if (i.get() >= piece_count_) {
        return 0;
    }
    const std::uint64_t start = piece_start(i);
    return std::min(piece_length_, total_length_ - start);
}

std::size_t torrent_layout::first_file_at(std::uint64_t start) const {
    // Ends are non-decreasing because files are contiguous; the first end past `start`
    // belongs to the non-empty file that holds that byte.
    const auto it = std::partition_point(files_.begin(), files_.end(), [start](const file_slot& f) {
        return f.offset + f.length <= start;
    });
    return static_cast<std::size_t>(it - files_.begin());
}

bool flat_layout_found(const metainfo& torrent, const std::filesystem::path& folder) {
    std::error_code ec;
    if (!torrent.multi_file || std::filesystem::exists(folder / torrent.name, ec)) {
        return false;
    }
    return std::all_of(torrent.files.begin(), torrent.files.end(), [&](const file_entry& f) {
        // f.path is name/<path...>; the flat layout put <path...> straight into the folder.
        const auto below = f.path.lexically_relative(torrent.name);
        return !below.empty() && below.begin()->native() != ".." &&
               std::filesystem::is_regular_file(folder / below, ec);
    });
}

}  // namespace minibit::storage
