#include "agent_paths.hpp"

#include <algorithm>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "minibit/agent/agent.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

namespace {

/// True when `inner` is `outer` or lies below it (both lexically normal and absolute).
bool within(const fs::path& inner, const fs::path& outer) {
    auto i = inner.begin();
    for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
        if (o->empty()) {
            continue;  // a trailing separator
        }
        if (i == inner.end() || *i != *o) {
            return false;
        }
    }
    return true;
}

/// True when every folder of `rel` below `base` (base/a, base/a/b, ...) is a folder itself,
/// not a symbolic link: a path through them stays inside `base`.
bool real_folders(const fs::path& base, const fs::path& rel) {
    std::error_code ec;
    fs::path at = base;
    for (const auto& part : rel) {
        at /= part;
        if (!fs::is_directory(fs::symlink_status(at, ec)) || ec) {
            return false;
        }
    }
    return true;
}

}  // namespace

result<fs::path> confine_path(const fs::path& p, const fs::path& root) {
    if (p.empty() || !p.is_absolute()) {
        return fail(agent_errc::bad_path, fmt::format("'{}' is not an absolute path", p.string()));
    }
    if (std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; })) {
        return fail(agent_errc::bad_path, fmt::format("'{}' contains '..'", p.string()));
    }
    std::error_code ec;
    const fs::path real_root = fs::canonical(root, ec);
    if (ec) {
        return fail(agent_errc::bad_path,
                    fmt::format("download root {}: {}", root.string(), ec.message()));
    }
    const fs::path real = fs::weakly_canonical(p, ec);
    if (ec) {
        return fail(agent_errc::bad_path, fmt::format("'{}': {}", p.string(), ec.message()));
    }
    if (!within(real, real_root)) {
        return fail(agent_errc::bad_path, fmt::format("'{}' is outside the download root {}",
                                                      p.string(), real_root.string()));
    }
    return real;
}

std::optional<fs::path> shared_path(const metainfo& a, const fs::path& a_dir, const metainfo& b,
                                    const fs::path& b_dir) {
    std::set<fs::path> files;
    std::set<fs::path> folders;  // every folder above a file of `a`, up to the root
    for (const auto& f : a.files) {
        const fs::path p = (a_dir / f.path).lexically_normal();
        files.insert(p);
        for (fs::path d = p.parent_path(); d != d.parent_path(); d = d.parent_path()) {
            if (!folders.insert(d).second) break;  // and all above it, seen before
        }
    }
    for (const auto& f : b.files) {
        const fs::path p = (b_dir / f.path).lexically_normal();
        if (files.contains(p) || folders.contains(p)) return p;
        for (fs::path d = p.parent_path(); d != d.parent_path(); d = d.parent_path()) {
            if (files.contains(d)) return d;
        }
    }
    return std::nullopt;
}

std::size_t delete_torrent_files(const metainfo& info, const fs::path& data_dir) {
    std::size_t removed = 0;
    std::set<fs::path, std::greater<>> folders;  // relative to data_dir, deepest first
    std::error_code ec;
    for (const auto& f : info.files) {
        for (fs::path d = f.path.parent_path(); !d.empty(); d = d.parent_path()) {
            folders.insert(d);
        }
        if (!real_folders(data_dir, f.path.parent_path())) {
            continue;  // a link or a file where a folder belongs: what lies below is not ours
        }
        const fs::path p = data_dir / f.path;
        const auto st = fs::symlink_status(p, ec);
        if (!ec && (fs::is_regular_file(st) || fs::is_symlink(st)) && fs::remove(p, ec)) {
            ++removed;  // a symbolic link is removed itself, never what it points at
        }
    }
    for (const auto& d : folders) {
        if (real_folders(data_dir, d) && fs::is_empty(data_dir / d, ec) && !ec) {
            fs::remove(data_dir / d, ec);
        }
    }
    return removed;
}

}  // namespace minibit::agent
