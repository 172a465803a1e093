#include "minibit/tracker/zone_map.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "minibit/core/small_file.hpp"
#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {
namespace {

using u128 = ipv6_key;

/// Zone names: letters, digits, '.', '_', '-', ':', '/', at most this long.
constexpr std::size_t max_name_bytes = 64;
constexpr std::size_t max_file_bytes = 64U << 20U;

/// One prefix line: the addresses [lo, hi] it covers and its zone (name index + 1).
template <class Key>
struct prefix {
    Key lo;
    Key hi;
    std::uint32_t zone;
    std::size_t line;
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > max_name_bytes) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-' || c == ':' || c == '/';
    });
}

template <class Key>
Key key_of(std::span<const std::uint8_t> ip) {
    Key k = 0;
    for (const std::uint8_t b : ip) k = static_cast<Key>((k << 8U) | b);
    return k;
}

/// The first address of a range with the host bits of `len` cleared, and its last.
template <class Key>
std::pair<Key, Key> bounds(Key addr, unsigned len) {
    constexpr unsigned bits = sizeof(Key) * 8;
    const Key host = len == 0 ? std::numeric_limits<Key>::max()
                              : static_cast<Key>((Key{1} << (bits - len)) - 1);
    return {static_cast<Key>(addr & ~host), static_cast<Key>(addr | host)};
}

// Adds a range start, folding it into the last range when it starts at the same address (a
// nested prefix) or names the same zone.
template <class Key>
void emit(zone_map::ranges<Key>& out, Key start, std::uint32_t zone) {
    if (!out.starts.empty() && out.starts.back() == start) {
        out.zones.back() = zone;
    } else if (out.zones.empty() || out.zones.back() != zone) {
        out.starts.push_back(start);
        out.zones.push_back(zone);
    }
}

// CIDR prefixes nest or are disjoint, so sorted by start (wider first) they form a forest; a
// walk with a stack of the open prefixes turns them into disjoint ranges, each owned by the
// longest prefix covering it. Two lines with the same prefix are an error.
template <class Key>
result<zone_map::ranges<Key>> flatten(std::vector<prefix<Key>> list) {
    std::sort(list.begin(), list.end(), [](const prefix<Key>& a, const prefix<Key>& b) {
        return a.lo != b.lo ? a.lo < b.lo : a.hi > b.hi;
    });
    zone_map::ranges<Key> out;
    emit<Key>(out, 0, 0);
    std::vector<const prefix<Key>*> open;
    const auto close_before = [&](const prefix<Key>* next) {
        while (!open.empty() && (next == nullptr || open.back()->hi < next->lo)) {
            const prefix<Key>* top = open.back();
            open.pop_back();
            if (top->hi != std::numeric_limits<Key>::max())
                emit<Key>(out, top->hi + 1, open.empty() ? 0 : open.back()->zone);
        }
    };
    for (std::size_t i = 0; i < list.size(); ++i) {
        const prefix<Key>& p = list[i];
        if (i > 0 && list[i - 1].lo == p.lo && list[i - 1].hi == p.hi) {
            const std::size_t first = std::min(list[i - 1].line, p.line);
            const std::size_t again = std::max(list[i - 1].line, p.line);
            return fail(tracker_errc::bad_zones,
                        fmt::format("line {}: the prefix of line {} again", again, first));
        }
        close_before(&p);
        emit<Key>(out, p.lo, p.zone);
        open.push_back(&p);
    }
    close_before(nullptr);
    return out;
}

template <class Key>
std::uint32_t lookup(const zone_map::ranges<Key>& r, Key k) {
    if (r.starts.empty()) return 0;  // no file
    const auto it = std::upper_bound(r.starts.begin(), r.starts.end(), k);
    return r.zones[static_cast<std::size_t>(it - r.starts.begin()) - 1];
}

struct parsed_line {
    bool v6 = false;
    std::array<std::uint8_t, 16> addr{};
    unsigned len = 0;
    std::string_view name;
};

// "CIDR NAME" -> its parts, or why not.
result<parsed_line> parse_line(std::string_view line) {
    const std::size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos)
        return fail(tracker_errc::bad_zones, "expected 'PREFIX/LENGTH ZONE'");
    const std::string_view cidr = line.substr(0, space);
    parsed_line p;
    p.name = trim(line.substr(space));
    if (!valid_name(p.name)) {
        return fail(tracker_errc::bad_zones,
                    "zone name must be 1-64 of A-Z a-z 0-9 . _ - : / (one word)");
    }
    const std::size_t slash = cidr.find('/');
    if (slash == std::string_view::npos)
        return fail(tracker_errc::bad_zones, "prefix has no /LENGTH");
    const std::string ip(cidr.substr(0, slash));
    p.v6 = ip.find(':') != std::string::npos;
    if (inet_pton(p.v6 ? AF_INET6 : AF_INET, ip.c_str(), p.addr.data()) != 1)
        return fail(tracker_errc::bad_zones, "'" + ip + "' is not an IP address");
    const std::string_view len = cidr.substr(slash + 1);
    const unsigned max_len = p.v6 ? 128 : 32;
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(std::string(len)) > max_len) {
        return fail(tracker_errc::bad_zones, fmt::format("prefix length must be 0..{}", max_len));
    }
    p.len = static_cast<unsigned>(std::stoul(std::string(len)));
    return p;
}

// Adds one parsed line to the prefix lists; host bits set below the length are an error.
template <class Key>
result<void> add_prefix(std::vector<prefix<Key>>& list, const parsed_line& p, std::uint32_t zone,
                        std::size_t line) {
    const Key addr = key_of<Key>(std::span(p.addr).first(sizeof(Key)));
    const auto [lo, hi] = bounds<Key>(addr, p.len);
    if (lo != addr) return fail(tracker_errc::bad_zones, "address has bits set past the length");
    list.push_back(prefix<Key>{lo, hi, zone, line});
    return {};
}

}  // namespace

std::uint64_t zone_map::next_serial() {
    // Any thread may build a map (SIGHUP reloads on the signal thread); relaxed is enough for a
    // counter whose values only have to differ.
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

result<zone_map> zone_map::parse(std::string_view text) {
    zone_map m;
    std::vector<prefix<std::uint32_t>> v4;
    std::vector<prefix<u128>> v6;
    std::unordered_map<std::string_view, std::uint32_t> ids;
    std::size_t pos = 0;
    for (std::size_t line_no = 1; pos < text.size(); ++line_no) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        line = trim(line.substr(0, line.find('#')));
        pos = end + 1;
        if (line.empty()) continue;
        auto p = parse_line(line);
        auto added = p ? result<void>{} : std::unexpected(p.error());
        if (p) {
            const auto [it, fresh] = ids.emplace(p->name, 0);
            if (fresh) {
                m.names_.emplace_back(p->name);
                it->second = static_cast<std::uint32_t>(m.names_.size());
            }
            added = p->v6 ? add_prefix(v6, *p, it->second, line_no)
                          : add_prefix(v4, *p, it->second, line_no);
        }
        if (!added) {
            return fail(tracker_errc::bad_zones,
                        fmt::format("line {}: {}", line_no, added.error().reason));
        }
    }
    m.prefixes_ = v4.size() + v6.size();
    auto r4 = flatten(std::move(v4));
    if (!r4) return std::unexpected(r4.error());
    auto r6 = flatten(std::move(v6));
    if (!r6) return std::unexpected(r6.error());
    m.v4_ = std::move(*r4);
    m.v6_ = std::move(*r6);
    return m;
}

result<zone_map> zone_map::load(const std::filesystem::path& file) {
    auto text = read_small_file(file, max_file_bytes);
    if (!text) return fail(tracker_errc::io, std::move(text.error().reason));
    auto r = parse(*text);
    if (!r) r.error().reason = file.string() + ": " + r.error().reason;
    return r;
}

zone_id zone_map::zone_of(std::span<const std::uint8_t> ip) const {
    if (ip.size() == 4) {
        const auto k = key_of<std::uint32_t>(ip);
        if (const std::uint32_t z = lookup(v4_, k); z != 0) return {zone_id::kind::named, z - 1};
        return {zone_id::kind::v4_net, k >> 8U};
    }
    const auto k = key_of<u128>(ip);
    if (const std::uint32_t z = lookup(v6_, k); z != 0) return {zone_id::kind::named, z - 1};
    return {zone_id::kind::v6_net, static_cast<std::uint64_t>(k >> 64U)};
}

std::string zone_map::name_of(const zone_id& z) const {
    switch (z.from) {
    case zone_id::kind::named: return z.value < names_.size() ? names_[z.value] : "?";
    case zone_id::kind::v4_net:
        return fmt::format("{}.{}.{}.0/24", (z.value >> 16U) & 0xffU, (z.value >> 8U) & 0xffU,
                           z.value & 0xffU);
    case zone_id::kind::v6_net:
        return fmt::format("{:x}:{:x}:{:x}:{:x}::/64", (z.value >> 48U) & 0xffffU,
                           (z.value >> 32U) & 0xffffU, (z.value >> 16U) & 0xffffU,
                           z.value & 0xffffU);
    }
    return "?";
}

}  // namespace minibit::tracker
