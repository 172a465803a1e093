#include "state_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "minibit/agent/agent.hpp"
#include "minibit/core/small_file.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view settings_suffix = ".json";
constexpr std::string_view torrent_suffix = ".torrent";
/// Largest settings file read back (a few hundred bytes in practice).
constexpr std::uintmax_t max_settings_bytes = std::uintmax_t{64} * 1024;
/// Largest .torrent read back (the parser's own limit).
constexpr std::uintmax_t max_torrent_bytes = 64U << 20U;

std::string errno_text(std::string_view what, const fs::path& p) {
    return fmt::format("{} {}: {}", what, p.string(), std::strerror(errno));
}

/// Reads a whole file of at most `limit` bytes.
result<std::string> read_bounded(const fs::path& p, std::uintmax_t limit) {
    auto text = read_small_file(p, limit);
    if (!text) {
        return fail(agent_errc::state, fmt::format("cannot read {}", text.error().reason));
    }
    return text;
}

result<void> make_private_dir(const fs::path& p) {
    if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) {
        return fail(agent_errc::state, errno_text("cannot create", p));
    }
    if (!fs::is_directory(p)) {
        return fail(agent_errc::state, fmt::format("{} is not a folder", p.string()));
    }
    return {};
}

std::string settings_json(const info_hash& hash, const torrent_settings& s) {
    nlohmann::json j = {{"version", 1},
                        {"info_hash", hash.hex()},
                        {"data_dir", s.data_dir.string()},
                        {"paused", s.paused}};
    if (s.max_upload != 0) j["max_upload"] = s.max_upload;
    if (s.max_download != 0) j["max_download"] = s.max_download;
    if (s.max_connections != 0) j["max_connections"] = s.max_connections;
    if (s.seed) j["seed"] = nlohmann::json::parse(seed_policy_json(*s.seed));
    if (s.finished) j["finished"] = true;
    if (s.seeded_seconds != 0) j["seeded_seconds"] = s.seeded_seconds;
    if (s.uploaded != 0) j["uploaded"] = s.uploaded;
    return j.dump(2) + "\n";
}

/// The seed goal, finished flag and connection limit of a settings file.
result<void> parse_policy_fields(const nlohmann::json& j, torrent_settings& s) {
    if (j.contains("max_connections")) {
        if (!j["max_connections"].is_number_unsigned() ||
            j["max_connections"].get<std::uint64_t>() > UINT32_MAX) {
            return fail(agent_errc::state, "max_connections is not a count");
        }
        s.max_connections = j["max_connections"].get<std::uint32_t>();
    }
    if (j.contains("finished")) {
        if (!j["finished"].is_boolean()) return fail(agent_errc::state, "finished is not a flag");
        s.finished = j["finished"].get<bool>();
    }
    if (j.contains("seed")) {
        std::string why;
        auto p = parse_seed_policy(j["seed"].dump(), why);
        if (!p) return fail(agent_errc::state, why);
        s.seed = *p;
    }
    return {};
}

/// Parses a settings file strictly: every field present with its type, nothing else.
result<torrent_settings> parse_settings(const std::string& text, const info_hash& expected) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(agent_errc::state, "not a JSON object");
    }
    for (const auto& [key, value] : j.items()) {
        static constexpr std::array<std::string_view, 11> known = {
            "version", "info_hash", "data_dir",       "paused",   "max_upload",     "max_download",
            "seed",    "finished",  "seeded_seconds", "uploaded", "max_connections"};
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            return fail(agent_errc::state, fmt::format("unknown field '{}'", key));
        }
    }
    if (!j.contains("version") || j["version"] != 1) {
        return fail(agent_errc::state, "missing or unknown version");
    }
    if (!j.contains("info_hash") || !j["info_hash"].is_string() ||
        j["info_hash"].get<std::string>() != expected.hex()) {
        return fail(agent_errc::state, "info_hash missing or not the file's name");
    }
    if (!j.contains("data_dir") || !j["data_dir"].is_string() || !j.contains("paused") ||
        !j["paused"].is_boolean()) {
        return fail(agent_errc::state, "data_dir or paused missing");
    }
    torrent_settings s;
    s.data_dir = j["data_dir"].get<std::string>();
    s.paused = j["paused"].get<bool>();
    for (const auto& [key, field] :
         {std::pair{"max_upload", &s.max_upload}, std::pair{"max_download", &s.max_download},
          std::pair{"seeded_seconds", &s.seeded_seconds}, std::pair{"uploaded", &s.uploaded}}) {
        if (!j.contains(key)) continue;
        if (!j[key].is_number_unsigned()) {
            return fail(agent_errc::state, fmt::format("{} is not a whole number", key));
        }
        *field = j[key].get<std::uint64_t>();
    }
    if (auto more = parse_policy_fields(j, s); !more) {
        return std::unexpected(more.error());
    }
    if (!s.data_dir.is_absolute()) {
        return fail(agent_errc::state, "data_dir is not absolute");
    }
    return s;
}

}  // namespace

result<void> write_file_atomically(const fs::path& path, std::string_view bytes) {
    const fs::path tmp = path.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return fail(agent_errc::state, errno_text("cannot create", tmp));
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            auto e = errno_text("cannot write", tmp);
            ::close(fd);
            ::unlink(tmp.c_str());
            return fail(agent_errc::state, e);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto e = errno_text("cannot sync", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(agent_errc::state, e);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = errno_text("cannot rename to", path);
        ::unlink(tmp.c_str());
        return fail(agent_errc::state, e);
    }
    const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return {};
}

result<std::unique_ptr<state_store>> state_store::open(fs::path dir) {
    std::error_code ec;
    if (!dir.empty() && !fs::exists(dir, ec)) {
        fs::create_directories(dir.parent_path(), ec);
    }
    for (const auto& p : {dir, dir / "torrents", dir / "resume"}) {
        if (auto made = make_private_dir(p); !made) {
            return std::unexpected(made.error());
        }
    }
    return std::unique_ptr<state_store>(new state_store(std::move(dir)));
}

result<void> state_store::save(const info_hash& hash, std::string_view torrent_bytes,
                               const torrent_settings& settings) const {
    const fs::path base = torrents_dir() / hash.hex();
    if (auto w = write_file_atomically(base.string() + std::string(torrent_suffix), torrent_bytes);
        !w) {
        return w;
    }
    return save_settings(hash, settings);
}

result<void> state_store::save_settings(const info_hash& hash,
                                        const torrent_settings& settings) const {
    const fs::path file = torrents_dir() / (hash.hex() + std::string(settings_suffix));
    return write_file_atomically(file, settings_json(hash, settings));
}

void state_store::forget(const info_hash& hash) const {
    const fs::path base = torrents_dir() / hash.hex();
    std::error_code ec;
    // Settings first: a .torrent without settings is ignored at load, never the reverse.
    fs::remove(base.string() + std::string(settings_suffix), ec);
    fs::remove(base.string() + std::string(torrent_suffix), ec);
    fs::remove(resume_path(hash), ec);
}

fs::path state_store::resume_path(const info_hash& hash) const {
    return dir_ / "resume" / (hash.hex() + ".resume");
}

void state_store::set_aside(const fs::path& p, std::vector<std::string>& warnings,
                            const std::string& why) const {
    const fs::path aside = p.string() + ".corrupt";
    std::error_code ec;
    fs::rename(p, aside, ec);
    warnings.push_back(fmt::format("state entry {} set aside as {}: {}", p.string(),
                                   aside.filename().string(), why));
}

result<saved_torrent> state_store::read_one(const fs::path& settings_file) const {
    const auto hash = info_hash::from_hex(settings_file.stem().string());
    if (!hash || hash->hex() != settings_file.stem().string()) {
        return fail(agent_errc::state, "the file name is not a lower-case info hash");
    }
    auto text = read_bounded(settings_file, max_settings_bytes);
    if (!text) {
        return std::unexpected(text.error());
    }
    auto settings = parse_settings(*text, *hash);
    if (!settings) {
        return std::unexpected(settings.error());
    }
    const fs::path torrent_file = torrents_dir() / (hash->hex() + std::string(torrent_suffix));
    auto bytes = read_bounded(torrent_file, max_torrent_bytes);
    if (!bytes) {
        return std::unexpected(bytes.error());
    }
    auto info = parse_metainfo(*bytes);
    if (!info) {
        return fail(agent_errc::state, "its .torrent does not parse: " + info.error().message());
    }
    if (info->hash != *hash) {
        return fail(agent_errc::state, "its .torrent has another info hash");
    }
    return saved_torrent{std::move(*info), std::move(*bytes), std::move(*settings)};
}

loaded_state state_store::load() const {
    loaded_state out;
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(torrents_dir(), ec)) {
        if (e.path().extension() == settings_suffix) {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        auto one = read_one(f);
        if (!one) {
            set_aside(f, out.warnings, one.error().reason);
            continue;
        }
        out.torrents.push_back(std::move(*one));
    }
    return out;
}

}  // namespace minibit::agent
