#include "test_torrent.hpp"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "minibit/core/sha1.hpp"

namespace minibit::storage::test {

temp_dir::temp_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "minibit-storage-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::vector<std::byte> test_torrent::piece(std::uint32_t i) const {
    const std::uint64_t start = std::uint64_t{i} * info.piece_length;
    const std::uint64_t end = std::min<std::uint64_t>(start + info.piece_length, content.size());
    return {content.begin() + static_cast<std::ptrdiff_t>(start),
            content.begin() + static_cast<std::ptrdiff_t>(end)};
}

test_torrent make_torrent(const std::string& name,
                          const std::vector<std::pair<std::string, std::uint64_t>>& files,
                          std::uint64_t piece_length, std::uint32_t seed) {
    test_torrent t;
    t.info.name = name;
    t.info.piece_length = piece_length;
    t.info.multi_file = !(files.size() == 1 && files[0].first == name);
    std::uint64_t offset = 0;
    for (const auto& [path, length] : files) {
        t.info.files.push_back(file_entry{path, length, offset});
        offset += length;
    }
    t.info.total_length = offset;
    std::uint32_t x = seed * 2654435761U + 1U;
    t.content.resize(offset);
    for (std::byte& b : t.content) {
        x = x * 1664525U + 1013904223U;  // LCG: deterministic, cheap
        b = static_cast<std::byte>(x >> 24U);
    }
    for (std::uint64_t start = 0; start < offset; start += piece_length) {
        const std::uint64_t n = std::min(piece_length, offset - start);
        const auto* p = reinterpret_cast<const std::uint8_t*>(t.content.data() + start);
        t.info.piece_hashes.push_back(sha1(std::span<const std::uint8_t>(p, n)));
    }
    t.info.hash = sha1(std::string_view(name));
    return t;
}

store_options options_for(backend_kind backend, allocation_mode allocation) {
    store_options o;
    o.backend = backend;
    o.allocation = allocation;
    return o;
}

result<bool> verify(piece_store& store, piece_index piece) {
    auto check = store.hash_piece(piece);
    if (!check) {
        return std::unexpected(std::move(check.error()));
    }
    return store.commit_check(*check);
}

std::vector<std::byte> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    std::transform(raw.begin(), raw.end(), out.begin(),
                   [](char c) { return static_cast<std::byte>(c); });
    return out;
}

}  // namespace minibit::storage::test
