#include "watch_folder.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include "minibit/agent/agent.hpp"
#include "minibit/core/small_file.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

namespace {

/// Largest .torrent read from the folder.
constexpr std::uintmax_t max_torrent_bytes = 64U << 20U;

}  // namespace

watch_folder::watch_folder(io::reactor& reactor, agent& owner, fs::path dir)
    : owner_(owner), dir_(std::move(dir)), scope_(reactor) {}

void watch_folder::start(std::chrono::milliseconds period) {
    period_ = period;
    scan();
}

void watch_folder::scan() {
    std::error_code ec;
    std::map<std::string, bool> present;
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        const auto& p = e.path();
        if (p.extension() != ".torrent" || !e.is_regular_file(ec)) continue;
        present[p.filename().string()] = true;
        look_at(p, files_[p.filename().string()]);
    }
    if (ec) {
        spdlog::warn("watch folder {}: {}", dir_.string(), ec.message());
    }
    for (auto it = files_.begin(); it != files_.end();) {
        if (present.contains(it->first)) {
            ++it;
            continue;
        }
        if (it->second.added) {
            spdlog::info("watch folder: {} is gone, removing its torrent", it->first);
            [[maybe_unused]] auto r = owner_.remove(it->second.hash, false, nullptr);
        }
        it = files_.erase(it);
    }
    scope_.add_timer(period_, [this] { scan(); });
}

void watch_folder::look_at(const fs::path& file, seen& s) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    const auto mtime = fs::last_write_time(file, ec);
    if (ec || (s.size == size && s.mtime == mtime)) {
        return;  // unchanged since the last look (added, or reported as bad)
    }
    s.size = size;
    s.mtime = mtime;
    if (s.added) {
        return;  // a torrent file rewritten in place keeps its torrent
    }
    if (size > max_torrent_bytes) {
        spdlog::warn("watch folder: {} is too large for a .torrent", file.string());
        return;
    }
    // Read through the regular-file check: a FIFO put there between the look and the read
    // must not stop the agent's thread.
    auto bytes = read_small_file(file, max_torrent_bytes);
    if (!bytes) {
        spdlog::warn("watch folder: {}", bytes.error().reason);
        return;
    }
    add_request r;
    r.torrent_bytes = std::move(*bytes);
    auto info = parse_metainfo(r.torrent_bytes);
    if (!info) {
        spdlog::warn("watch folder: {}: {}", file.string(), info.error().message());
        return;
    }
    s.hash = info->hash;
    auto added = owner_.add(r);
    if (added || is(added.error(), agent_errc::duplicate)) {
        s.added = true;
        spdlog::info("watch folder: {} -> torrent {}", file.filename().string(), s.hash.hex());
    } else {
        spdlog::warn("watch folder: {}: {}", file.string(), added.error().message());
    }
}

}  // namespace minibit::agent
