#include "minibit/core/metainfo.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "minibit/core/bencode.hpp"
#include "minibit/core/small_file.hpp"

namespace minibit {

std::uint64_t metainfo::piece_size(piece_index i) const {
    const std::uint64_t n = piece_hashes.size();
    if (i.get() >= n) {
        return 0;
    }
    if (i.get() + 1 < n) {
        return piece_length;
    }
    return total_length - piece_length * (n - 1);
}

std::vector<std::vector<std::string>> metainfo::tracker_tiers() const {
    if (!announce_list.empty()) {
        return announce_list;
    }
    if (!announce.empty()) {
        return {{announce}};
    }
    return {};
}

namespace {

// BEP 3 allows 64-bit lengths; 2^62 keeps every sum and piece arithmetic far from overflow.
constexpr std::uint64_t max_total_bytes = std::uint64_t{1} << 62U;

// Reads the fields of one parse; every error carries the offending value's offset in the file.
class metainfo_parser {
public:
    metainfo_parser(std::string_view bytes, const metainfo_limits& limits)
        : bytes_(bytes), limits_(limits) {}

    result<metainfo> run();

private:
    [[nodiscard]] std::size_t at(const bvalue& v) const {
        return static_cast<std::size_t>(v.raw().data() - bytes_.data());
    }
    [[nodiscard]] result<const bvalue*> field(const bvalue& dict, std::string_view key,
                                              bvalue::kind kind, bool required) const;
    [[nodiscard]] result<std::string> text(const bvalue& dict, std::string_view key,
                                           bool required) const;
    /// Refuses a name that is not one safe path component; `what` names it in the error.
    [[nodiscard]] result<void> check_component(std::string_view c, const bvalue& where,
                                               std::string_view what) const;
    result<void> parse_info(const bvalue& info, metainfo& m) const;
    result<void> parse_pieces(const bvalue& info, metainfo& m) const;
    result<void> parse_files(const bvalue& files, metainfo& m) const;
    [[nodiscard]] result<file_entry> parse_file(const bvalue& entry, const std::string& top) const;
    result<void> parse_extras(const bvalue& root, metainfo& m) const;
    result<void> parse_tiers(const bvalue& tiers, metainfo& m) const;

    std::string_view bytes_;
    const metainfo_limits& limits_;
};

std::string_view kind_name(bvalue::kind k) {
    switch (k) {
    case bvalue::kind::integer: return "an integer";
    case bvalue::kind::string: return "a string";
    case bvalue::kind::list: return "a list";
    case bvalue::kind::dict: return "a dictionary";
    }
    return "?";
}

result<const bvalue*> metainfo_parser::field(const bvalue& dict, std::string_view key,
                                             bvalue::kind kind, bool required) const {
    const bvalue* v = dict.find(key);
    if (v == nullptr) {
        if (required) {
            return fail(metainfo_errc::missing_field, "missing '" + std::string(key) + "'",
                        at(dict));
        }
        return nullptr;
    }
    if (v->type() != kind) {
        return fail(metainfo_errc::wrong_type,
                    "'" + std::string(key) + "' must be " + std::string(kind_name(kind)), at(*v));
    }
    return v;
}

result<std::string> metainfo_parser::text(const bvalue& dict, std::string_view key,
                                          bool required) const {
    auto v = field(dict, key, bvalue::kind::string, required);
    if (!v) {
        return std::unexpected(std::move(v.error()));
    }
    const std::string* s = *v == nullptr ? nullptr : (*v)->as_string();
    return s == nullptr ? std::string() : *s;
}

result<void> metainfo_parser::check_component(std::string_view c, const bvalue& where,
                                              std::string_view what) const {
    const std::string w(what);
    if (c.empty()) {
        return fail(metainfo_errc::bad_path, "empty " + w, at(where));
    }
    if (c == "." || c == "..") {
        return fail(metainfo_errc::bad_path, w + " is '" + std::string(c) + "'", at(where));
    }
    if (c.find('/') != std::string_view::npos) {
        return fail(metainfo_errc::bad_path, w + " contains '/'", at(where));
    }
    if (c.find('\0') != std::string_view::npos) {
        return fail(metainfo_errc::bad_path, w + " contains a NUL byte", at(where));
    }
    return {};
}

// BEP 3: in a multi-file torrent `name` is the top folder, so each path starts with it (as
// libtorrent's file_storage lays files out): DIR/<name>/<path...>.
result<file_entry> metainfo_parser::parse_file(const bvalue& entry, const std::string& top) const {
    if (entry.type() != bvalue::kind::dict) {
        return fail(metainfo_errc::wrong_type, "each entry of 'files' must be a dictionary",
                    at(entry));
    }
    auto len = field(entry, "length", bvalue::kind::integer, true);
    if (!len) {
        return std::unexpected(std::move(len.error()));
    }
    const std::int64_t* length = (*len)->as_int();
    if (length == nullptr || *length < 0) {
        return fail(metainfo_errc::bad_value, "file length is negative", at(**len));
    }
    auto path = field(entry, "path", bvalue::kind::list, true);
    if (!path) {
        return std::unexpected(std::move(path.error()));
    }
    const bvalue::list_type* parts = (*path)->as_list();
    if (parts == nullptr || parts->empty()) {
        return fail(metainfo_errc::bad_path, "file path is empty", at(**path));
    }
    if (parts->size() > limits_.max_path_depth) {
        return fail(metainfo_errc::bad_path, "file path has too many components", at(**path));
    }
    file_entry f;
    f.length = static_cast<std::uint64_t>(*length);
    f.path = top;
    for (const bvalue& part : *parts) {
        const std::string* s = part.as_string();
        if (s == nullptr) {
            return fail(metainfo_errc::wrong_type, "path components must be strings", at(part));
        }
        if (auto ok = check_component(*s, part, "path component"); !ok) {
            return std::unexpected(std::move(ok.error()));
        }
        f.path /= *s;
    }
    return f;
}

result<void> metainfo_parser::parse_files(const bvalue& files, metainfo& m) const {
    const bvalue::list_type* list = files.as_list();
    if (list == nullptr || list->empty()) {
        return fail(metainfo_errc::bad_value, "'files' is empty", at(files));
    }
    if (list->size() > limits_.max_files) {
        return fail(metainfo_errc::bad_value, "more files than the file limit", at(files));
    }
    std::unordered_set<std::string> file_paths;
    std::unordered_set<std::string> dir_paths;
    for (const bvalue& entry : *list) {
        auto f = parse_file(entry, m.name);
        if (!f) {
            return std::unexpected(std::move(f.error()));
        }
        // Both lengths are <= 2^62 here, so the sum cannot wrap before the check.
        if (f->length > max_total_bytes || m.total_length + f->length > max_total_bytes) {
            return fail(metainfo_errc::bad_value, "total size above 2^62 bytes", at(entry));
        }
        f->offset = m.total_length;
        m.total_length += f->length;
        // No duplicates, and no file that is also another file's folder ("a" and "a/b").
        const std::string key = f->path.generic_string();
        if (dir_paths.contains(key) || !file_paths.insert(key).second) {
            return fail(metainfo_errc::bad_path, "two files with the path '" + key + "'",
                        at(entry));
        }
        for (auto p = f->path.parent_path(); !p.empty(); p = p.parent_path()) {
            if (file_paths.contains(p.generic_string())) {
                return fail(metainfo_errc::bad_path,
                            "'" + p.generic_string() + "' is both a file and a folder", at(entry));
            }
            if (!dir_paths.insert(p.generic_string()).second) {
                break;  // its ancestors are already recorded
            }
        }
        m.files.push_back(std::move(*f));
    }
    return {};
}

result<void> metainfo_parser::parse_pieces(const bvalue& info, metainfo& m) const {
    auto plen = field(info, "piece length", bvalue::kind::integer, true);
    if (!plen) {
        return std::unexpected(std::move(plen.error()));
    }
    const std::int64_t* pl = (*plen)->as_int();
    if (pl == nullptr || *pl <= 0) {
        return fail(metainfo_errc::bad_value, "piece length must be positive", at(**plen));
    }
    if (static_cast<std::uint64_t>(*pl) > limits_.max_piece_length) {
        return fail(metainfo_errc::bad_value, "piece length above the limit", at(**plen));
    }
    m.piece_length = static_cast<std::uint64_t>(*pl);
    auto pieces = field(info, "pieces", bvalue::kind::string, true);
    if (!pieces) {
        return std::unexpected(std::move(pieces.error()));
    }
    const std::string* hashes = (*pieces)->as_string();
    if (hashes == nullptr || hashes->size() % 20 != 0) {
        return fail(metainfo_errc::bad_value, "'pieces' length is not a multiple of 20",
                    at(**pieces));
    }
    const std::uint64_t expected = (m.total_length + m.piece_length - 1) / m.piece_length;
    if (hashes->size() / 20 != expected) {
        return fail(metainfo_errc::piece_count_mismatch,
                    "'pieces' holds " + std::to_string(hashes->size() / 20) + " hashes, " +
                        std::to_string(expected) + " expected",
                    at(**pieces));
    }
    m.piece_hashes.resize(hashes->size() / 20);
    for (std::size_t i = 0; i < m.piece_hashes.size(); ++i) {
        std::memcpy(m.piece_hashes[i].bytes.data(), hashes->data() + i * 20, 20);
    }
    return {};
}

result<void> metainfo_parser::parse_info(const bvalue& info, metainfo& m) const {
    auto name = text(info, "name", true);
    if (!name) {
        return std::unexpected(std::move(name.error()));
    }
    // The file's name (single file) or the top folder's (multi-file): one safe component.
    if (auto ok = check_component(*name, *info.find("name"), "'name'"); !ok) {
        return ok;
    }
    m.name = std::move(*name);
    const bvalue* length = info.find("length");
    const bvalue* files = info.find("files");
    if ((length == nullptr) == (files == nullptr)) {
        return fail(length == nullptr ? metainfo_errc::missing_field : metainfo_errc::bad_value,
                    "info needs exactly one of 'length' and 'files'", at(info));
    }
    if (files != nullptr) {
        auto f = field(info, "files", bvalue::kind::list, true);
        if (!f) {
            return std::unexpected(std::move(f.error()));
        }
        m.multi_file = true;
        if (auto ok = parse_files(*files, m); !ok) {
            return ok;
        }
    } else {
        const std::int64_t* len = length->as_int();
        if (len == nullptr) {
            return fail(metainfo_errc::wrong_type, "'length' must be an integer", at(*length));
        }
        if (*len < 0 || static_cast<std::uint64_t>(*len) > max_total_bytes) {
            return fail(metainfo_errc::bad_value, "length is negative or above 2^62", at(*length));
        }
        m.total_length = static_cast<std::uint64_t>(*len);
        m.files.push_back(file_entry{m.name, m.total_length, 0});
    }
    if (m.total_length == 0) {
        return fail(metainfo_errc::bad_value, "torrent holds no data", at(info));
    }
    if (auto ok = parse_pieces(info, m); !ok) {
        return ok;
    }
    const bvalue* priv = info.find("private");
    m.is_private = priv != nullptr && priv->as_int() != nullptr && *priv->as_int() == 1;
    return {};
}

result<void> metainfo_parser::parse_extras(const bvalue& root, metainfo& m) const {
    auto announce = text(root, "announce", false);
    if (!announce) {
        return std::unexpected(std::move(announce.error()));
    }
    auto comment = text(root, "comment", false);
    if (!comment) {
        return std::unexpected(std::move(comment.error()));
    }
    auto created_by = text(root, "created by", false);
    if (!created_by) {
        return std::unexpected(std::move(created_by.error()));
    }
    auto date = field(root, "creation date", bvalue::kind::integer, false);
    if (!date) {
        return std::unexpected(std::move(date.error()));
    }
    auto tiers = field(root, "announce-list", bvalue::kind::list, false);
    if (!tiers) {
        return std::unexpected(std::move(tiers.error()));
    }
    m.announce = std::move(*announce);
    m.comment = std::move(*comment);
    m.created_by = std::move(*created_by);
    if (*date != nullptr && (*date)->as_int() != nullptr) {
        m.creation_date = *(*date)->as_int();
    }
    return *tiers == nullptr ? result<void>{} : parse_tiers(**tiers, m);
}

result<void> metainfo_parser::parse_tiers(const bvalue& tiers, metainfo& m) const {
    const bvalue::list_type* list = tiers.as_list();
    if (list == nullptr) {
        return {};
    }
    // BEP 12: a list of tiers, each a list of URLs; empty tiers are dropped.
    for (const bvalue& tier : *list) {
        const bvalue::list_type* urls = tier.as_list();
        if (urls == nullptr) {
            return fail(metainfo_errc::wrong_type, "announce-list tier must be a list", at(tier));
        }
        std::vector<std::string> out;
        for (const bvalue& url : *urls) {
            const std::string* s = url.as_string();
            if (s == nullptr) {
                return fail(metainfo_errc::wrong_type, "tracker URL must be a string", at(url));
            }
            out.push_back(*s);
        }
        if (!out.empty()) {
            m.announce_list.push_back(std::move(out));
        }
    }
    return {};
}

result<metainfo> metainfo_parser::run() {
    if (bytes_.size() > limits_.max_file_bytes) {
        return fail(metainfo_errc::bad_value, "torrent file larger than the limit");
    }
    bencode_limits bl;
    bl.max_input_bytes = limits_.max_file_bytes;
    bl.max_string_bytes = limits_.max_file_bytes;  // `pieces` may fill most of the file
    bl.lenient_key_order = true;  // real .torrent files are sometimes unsorted; the hash is raw
    auto root = bdecode(bytes_, bl);
    if (!root) {
        return fail(metainfo_errc::bad_bencode, "bencode: " + root.error().reason,
                    root.error().offset);
    }
    if (root->type() != bvalue::kind::dict) {
        return fail(metainfo_errc::wrong_type, "top level must be a dictionary", 0);
    }
    auto info = field(*root, "info", bvalue::kind::dict, true);
    if (!info) {
        return std::unexpected(std::move(info.error()));
    }
    metainfo m;
    if (auto ok = parse_info(**info, m); !ok) {
        return std::unexpected(std::move(ok.error()));
    }
    if (auto ok = parse_extras(*root, m); !ok) {
        return std::unexpected(std::move(ok.error()));
    }
    m.info_bytes = std::string((*info)->raw());
    m.hash = sha1(m.info_bytes);
    return m;
}

}  // namespace

result<metainfo> parse_metainfo(std::string_view bytes, const metainfo_limits& limits) {
    return metainfo_parser(bytes, limits).run();
}

result<std::string> read_torrent_file(const std::filesystem::path& file,
                                      const metainfo_limits& limits) {
    auto bytes = read_small_file(file, limits.max_file_bytes);
    if (!bytes) {
        const std::string name = file.string();
        if (is(bytes.error(), file_errc::io) &&
            (name.starts_with("magnet:") || name.find("://") != std::string::npos)) {
            return fail(metainfo_errc::io,
                        bytes.error().reason +
                            " (a .torrent file is needed here: magnet links and URLs are not "
                            "fetched; download the .torrent first)");
        }
        const bool large = is(bytes.error(), file_errc::too_large);
        return fail(large ? metainfo_errc::bad_value : metainfo_errc::io,
                    large ? file.string() + ": larger than the torrent limit"
                          : std::move(bytes.error().reason));
    }
    return bytes;
}

result<metainfo> load_metainfo(const std::filesystem::path& file, const metainfo_limits& limits) {
    auto bytes = read_torrent_file(file, limits);
    if (!bytes) {
        return std::unexpected(std::move(bytes.error()));
    }
    return parse_metainfo(*bytes, limits);
}

}  // namespace minibit
