#include "minibit/tracker/info_hash_filter.hpp"

#include "minibit/core/small_file.hpp"

namespace minibit::tracker {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

result<info_hash_filter> info_hash_filter::parse(std::string_view text, filter_mode mode) {
    info_hash_filter f;
    f.mode_ = mode;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = trim(text.substr(pos, end - pos));
        if (!line.empty() && line.front() != '#') {
            const auto h = sha1_digest::from_hex(line);
            if (!h) return fail(tracker_errc::bad_list, "line is not 40 hex digits", pos);
            f.hashes_.insert(*h);
        }
        pos = end + 1;
    }
    return f;
}

result<info_hash_filter> info_hash_filter::load(const std::filesystem::path& file,
                                                filter_mode mode) {
    auto text = read_small_file(file, 64U << 20U);
    if (!text) return fail(tracker_errc::io, std::move(text.error().reason));
    auto r = parse(*text, mode);
    if (!r) r.error().reason = file.string() + ": " + r.error().reason;
    return r;
}

bool info_hash_filter::allows(const info_hash& hash) const {
    switch (mode_) {
    case filter_mode::allow_all: return true;
    case filter_mode::allow_listed: return hashes_.contains(hash);
    case filter_mode::deny_listed: return !hashes_.contains(hash);
    }
    return false;
}

}  // namespace minibit::tracker
