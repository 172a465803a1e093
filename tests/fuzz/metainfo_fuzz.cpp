// Fuzz target: .torrent parsing. Properties when parse_metainfo succeeds: the info hash is the
// SHA-1 of info_bytes; every file path is relative, starts with the torrent's name and has no
// '..' or empty component; file offsets are contiguous and sum to total_length; there are
// ceil(total / piece_length) piece hashes.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/core/sha1.hpp"

namespace {

void check_paths(const minibit::metainfo& m) {
    using minibit::fuzz::check;
    std::uint64_t offset = 0;
    for (const auto& f : m.files) {
        check(!f.path.empty() && f.path.is_relative() && !f.path.has_root_name(),
              "absolute or empty path");
        check(*f.path.begin() == m.name, "file path does not start with the torrent's name");
        for (const auto& part : f.path) {
            check(part != ".." && part != "." && !part.empty(),
                  "path component '..', '.' or empty");
        }
        check(f.offset == offset, "file offsets are not contiguous");
        offset += f.length;
    }
    check(offset == m.total_length, "file lengths do not sum to total_length");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using minibit::fuzz::check;
    const auto m = minibit::parse_metainfo(minibit::fuzz::as_text(data, size));
    if (!m) return 0;
    check(minibit::sha1(m->info_bytes) == m->hash, "info hash is not sha1(info_bytes)");
    check(minibit::fuzz::as_text(data, size).find(m->info_bytes) != std::string_view::npos,
          "info_bytes are not a slice of the input");
    check(m->piece_length > 0, "zero piece length accepted");
    const std::uint64_t pieces = (m->total_length + m->piece_length - 1) / m->piece_length;
    check(m->piece_hashes.size() == pieces, "piece hash count does not match the length");
    check_paths(*m);
    for (std::uint32_t i = 0; i < m->piece_count(); ++i) {
        const auto len = m->piece_size(minibit::piece_index{i});
        check(len > 0 && len <= m->piece_length, "piece size out of range");
    }
    return 0;
}
