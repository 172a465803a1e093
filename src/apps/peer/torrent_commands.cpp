#include "torrent_commands.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../common/usage_error.hpp"

namespace minibit::apps {
namespace {

// "HTTP" -> "http": URL schemes are case-insensitive (RFC 3986 section 3.1).
std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// Why the authority ("host", "host:port", "[v6]:port") is not usable, or "".
std::string authority_problem(std::string_view authority, bool needs_port) {
    if (authority.find('@') != std::string_view::npos) return "user names do not belong in it";
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with("[")) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return "an IPv6 address lacks its ']'";
        host = authority.substr(1, close - 1);
        const auto rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(":")) return "junk after the IPv6 address";
        if (!rest.empty()) port = rest.substr(1);
        if (!rest.empty() && port.empty()) return "an empty port";
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (port.empty()) return "an empty port";
    }
    if (host.empty()) return "no host";
    if (port.empty()) return needs_port ? "no port (udp:// needs HOST:PORT)" : "";
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
        return fmt::format("port '{}' is not a number", port);
    const auto number = std::stoul(std::string(port));
    if (number == 0 || number > 65535) return fmt::format("port {} is outside 1..65535", number);
    return "";
}

nlohmann::json to_json(const metainfo& m) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : m.files)
        files.push_back({{"path", f.path.string()}, {"length", f.length}});
    nlohmann::json out = {
        {"name", m.name},
        {"info_hash", m.hash.hex()},
        {"piece_length", m.piece_length},
        {"piece_count", m.piece_count()},
        {"total_size", m.total_length},
        {"private", m.is_private},
        {"trackers", m.tracker_tiers()},
        {"files", files},
        {"comment", m.comment},
        {"created_by", m.created_by},
    };
    out["creation_date"] = m.creation_date ? nlohmann::json(*m.creation_date) : nlohmann::json();
    return out;
}

// One JSON object on one line; bytes that are not UTF-8 (file names may hold any) become U+FFFD
// instead of failing the dump.
void print_json(const metainfo& m) {
    fmt::print("{}\n", to_json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const metainfo& m) {
    fmt::print("name: {}\n", m.name);
    fmt::print("total_size: {}\n", m.total_length);
    fmt::print("piece_length: {}\n", m.piece_length);
    fmt::print("piece_count: {}\n", m.piece_count());
    fmt::print("private: {}\n", m.is_private ? "yes" : "no");
    for (const auto& tier : m.tracker_tiers()) {
        for (const auto& url : tier) fmt::print("tracker: {}\n", url);
    }
    if (m.creation_date) fmt::print("creation_date: {}\n", *m.creation_date);
    if (!m.created_by.empty()) fmt::print("created_by: {}\n", m.created_by);
    if (!m.comment.empty()) fmt::print("comment: {}\n", m.comment);
    fmt::print("files: {}\n", m.files.size());
    for (const auto& file : m.files) fmt::print("  {} {}\n", file.length, file.path.string());
    fmt::print("info_hash: {}\n", m.hash.hex());
}

// Writes `bytes` to `out` through `out`.part and a rename; on failure removes the part file.
void write_atomically(const std::filesystem::path& out, const std::string& bytes) {
    const std::filesystem::path tmp = out.string() + ".part";
    std::error_code ec;
    {
        std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
        file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        file.close();
        if (!file) {
            std::filesystem::remove(tmp, ec);
            throw std::runtime_error(fmt::format("cannot write {}", tmp.string()));
        }
    }
    std::filesystem::rename(tmp, out, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw std::runtime_error(fmt::format("cannot write {}: {}", out.string(), ec.message()));
    }
}

}  // namespace

std::string tracker_url_problem(std::string_view url) {
    for (const char c : url) {
        if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f')
            return "spaces and control characters do not belong in a URL";
    }
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return "not a URL (http://, https:// or udp://HOST:PORT)";
    const std::string scheme = lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https" && scheme != "udp")
        return fmt::format("scheme '{}' is not http, https or udp", scheme);
    const auto rest = url.substr(sep + 3);
    const auto authority = rest.substr(0, rest.find_first_of("/?#"));
    return authority_problem(authority, scheme == "udp");
}

int create_command(const create_request& request) {
    std::filesystem::path out = request.output.value_or(
        std::filesystem::absolute(request.source).lexically_normal().filename().string() +
        ".torrent");
    if (out.filename().empty()) throw usage_error("the output path names a folder");
    auto bytes = create_torrent(request.source, request.options);
    if (!bytes) throw std::runtime_error(bytes.error().message());
    auto parsed = parse_metainfo(*bytes);
    if (!parsed) throw std::runtime_error(parsed.error().message());
    write_atomically(out, *bytes);
    if (request.json) {
        print_json(*parsed);
        return 0;
    }
    fmt::print("created {} ({} pieces of {} bytes, {} bytes total)\n", out.string(),
               parsed->piece_count(), parsed->piece_length, parsed->total_length);
    fmt::print("{}\n", parsed->hash.hex());
    return 0;
}

int info_command(const std::filesystem::path& torrent, bool json) {
    auto m = load_metainfo(torrent);
    if (!m) throw std::runtime_error(m.error().message());
    if (json) {
        print_json(*m);
    } else {
        print_text(*m);
    }
    return 0;
}

}  // namespace minibit::apps
