#include "minibit/wire/tracker_http.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "minibit/core/hex.hpp"

namespace minibit::wire {
namespace {

using errc = tracker_http_errc;

bool is_unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// RFC 3986 query characters allowed unescaped inside one key or value ('&' and '=' separate).
// '+' is kept as a literal '+', not a space: announce values are bytes, not form text.
bool is_query_char(unsigned char c) {
    if (is_unreserved(c)) return true;
    switch (c) {
    case '!':
    case '$':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case ':':
    case '@':
    case '/':
    case '?': return true;
    default: return false;
    }
}

// One key=value pair of the query, with the value's offset for error reports.
struct raw_param {
    std::string_view key;
    std::string_view value;
    std::size_t value_offset = 0;
};

// Walks the '&'-separated pairs, calling `fn(param)` until it returns an error.
template <class Fn>
result<void> for_each_param(std::string_view query, const http_query_limits& limits, Fn&& fn) {
    std::size_t pos = 0;
    std::size_t count = 0;
    while (pos <= query.size()) {
        std::size_t end = query.find('&', pos);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view pair = query.substr(pos, end - pos);
        if (!pair.empty()) {
            if (++count > limits.max_params) {
                return fail(errc::too_many_params, "too many query parameters", pos);
            }
            const std::size_t eq = pair.find('=');
            raw_param p;
            p.key = pair.substr(0, eq);
            p.value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            p.value_offset = eq == std::string_view::npos ? end : pos + eq + 1;
            if (auto r = fn(p); !r) return r;
        }
        pos = end + 1;
    }
    return {};
}

result<std::uint64_t> parse_decimal(std::string_view s, std::size_t offset, std::uint64_t max) {
    if (s.empty() || s.size() > 20) return fail(errc::bad_number, "not a decimal number", offset);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c < '0' || c > '9') {
            return fail(errc::bad_number, "not a non-negative decimal number", offset + i);
        }
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (v > (max - digit) / 10) return fail(errc::bad_number, "number out of range", offset);
        v = v * 10 + digit;
    }
    return v;
}

result<std::array<std::uint8_t, 20>> decode_20(const raw_param& p, std::string_view what) {
    auto decoded = percent_decode(p.value, p.value_offset);
    if (!decoded) return std::unexpected(std::move(decoded.error()));
    if (decoded->size() != 20) {
        return fail(errc::bad_length, std::string(what) + " is not exactly 20 bytes",
                    p.value_offset);
    }
    std::array<std::uint8_t, 20> out{};
    std::copy(decoded->begin(), decoded->end(), out.begin());
    return out;
}

result<announce_event> parse_event(std::string_view v, std::size_t offset) {
    if (v.empty()) return announce_event::none;
    if (v == "started") return announce_event::started;
    if (v == "completed") return announce_event::completed;
    if (v == "stopped") return announce_event::stopped;
    if (v == "empty") return announce_event::none;
    return fail(errc::bad_event, "unknown event", offset);
}

// Decodes a short optional text value (ip, key) under the value limit.
result<std::string> decode_text(const raw_param& p, const http_query_limits& limits) {
    auto decoded = percent_decode(p.value, p.value_offset);
    if (decoded && decoded->size() > limits.max_value_bytes) {
        return fail(errc::too_long, "value too long", p.value_offset);
    }
    return decoded;
}

// Which single-valued announce parameters were seen, to refuse duplicates.
enum seen_bit : unsigned {
    seen_hash = 1U << 0U,
    seen_peer = 1U << 1U,
    seen_port = 1U << 2U,
    seen_up = 1U << 3U,
    seen_down = 1U << 4U,
    seen_left = 1U << 5U,
    seen_event = 1U << 6U,
    seen_compact = 1U << 7U,
    seen_numwant = 1U << 8U,
    seen_ip = 1U << 9U,
    seen_key = 1U << 10U,
};

unsigned bit_for(std::string_view key) {
    static constexpr std::array<std::pair<std::string_view, unsigned>, 11> keys{{
        {"info_hash", seen_hash},
        {"peer_id", seen_peer},
        {"port", seen_port},
        {"uploaded", seen_up},
        {"downloaded", seen_down},
        {"left", seen_left},
        {"event", seen_event},
        {"compact", seen_compact},
        {"numwant", seen_numwant},
        {"ip", seen_ip},
        {"key", seen_key},
    }};
    for (const auto& [name, bit] : keys) {
        if (name == key) return bit;
    }
    return 0;
}

result<void> apply_param(announce_request& req, unsigned bit, const raw_param& p,
                         const http_query_limits& limits) {
    constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();
    auto set_u64 = [&](std::uint64_t& field) -> result<void> {
        auto v = parse_decimal(p.value, p.value_offset, u64_max);
        if (!v) return std::unexpected(std::move(v.error()));
        field = *v;
        return {};
    };
    switch (bit) {
    case seen_hash: {
        auto v = decode_20(p, "info_hash");
        if (!v) return std::unexpected(std::move(v.error()));
        req.hash.bytes = *v;
        return {};
    }
    case seen_peer: {
        auto v = decode_20(p, "peer_id");
        if (!v) return std::unexpected(std::move(v.error()));
        req.peer_id = *v;
        return {};
    }
    case seen_port: {
        auto v = parse_decimal(p.value, p.value_offset, 65535);
        if (!v) return std::unexpected(std::move(v.error()));
        if (*v == 0) return fail(errc::bad_number, "port must be 1..65535", p.value_offset);
        req.port = static_cast<std::uint16_t>(*v);
        return {};
    }
    case seen_up: return set_u64(req.uploaded);
    case seen_down: return set_u64(req.downloaded);
    case seen_left: return set_u64(req.left);
    case seen_event: {
        auto v = parse_event(p.value, p.value_offset);
        if (!v) return std::unexpected(std::move(v.error()));
        req.event = *v;
        return {};
    }
    case seen_compact:
        if (p.value != "0" && p.value != "1") {
            return fail(errc::bad_number, "compact must be 0 or 1", p.value_offset);
        }
        req.format = p.value == "1" ? peer_list_format::compact : peer_list_format::dictionaries;
        return {};
    case seen_numwant: {
        auto v = parse_decimal(p.value, p.value_offset, u64_max);
        if (!v) return std::unexpected(std::move(v.error()));
        req.numwant = static_cast<std::uint32_t>(std::min<std::uint64_t>(*v, limits.max_numwant));
        return {};
    }
    case seen_ip: {
        auto v = decode_text(p, limits);
        if (!v) return std::unexpected(std::move(v.error()));
        req.ip = std::move(*v);
        return {};
    }
    default: {
        auto v = decode_text(p, limits);
        if (!v) return std::unexpected(std::move(v.error()));
        req.key = std::move(*v);
        return {};
    }
    }
}

}  // namespace

result<request_target> split_request_target(std::string_view target,
                                            const http_query_limits& limits) {
    if (target.size() > limits.max_target_bytes) {
        return fail(errc::too_long, "request target too long", limits.max_target_bytes);
    }
    if (target.empty() || target.front() != '/') {
        return fail(errc::bad_target, "request target must start with '/'", 0);
    }
    const std::size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    for (std::size_t i = 0; i < path.size(); ++i) {
        const auto c = static_cast<unsigned char>(path[i]);
        if (!is_query_char(c) && c != '%') {
            return fail(errc::bad_target, "forbidden character in path", i);
        }
    }
    return request_target{path,
                          q == std::string_view::npos ? std::string_view{} : target.substr(q + 1)};
}

result<std::string> percent_decode(std::string_view in, std::size_t base) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (c == '%') {
            if (i + 2 >= in.size()) {
                return fail(errc::bad_escape, "truncated percent escape", base + i);
            }
            const int hi = hex_digit_value(in[i + 1]);
            const int lo = hex_digit_value(in[i + 2]);
            if (hi < 0 || lo < 0) return fail(errc::bad_escape, "bad percent escape", base + i);
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (is_query_char(c)) {
            out.push_back(static_cast<char>(c));
        } else {
            return fail(errc::bad_target, "character must be percent-encoded", base + i);
        }
    }
    return out;
}

std::string percent_encode(std::span<const std::uint8_t> bytes) {
    static constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size() * 3);
    for (const std::uint8_t b : bytes) {
        if (is_unreserved(b)) {
            out.push_back(static_cast<char>(b));
        } else {
            out.push_back('%');
            out.push_back(hex[b >> 4U]);
            out.push_back(hex[b & 0x0fU]);
        }
    }
    return out;
}

result<announce_request> parse_announce_query(std::string_view query,
                                              const http_query_limits& limits) {
    if (query.size() > limits.max_target_bytes) {
        return fail(errc::too_long, "query too long", limits.max_target_bytes);
    }
    announce_request req;
    unsigned seen = 0;
    auto r = for_each_param(query, limits, [&](const raw_param& p) -> result<void> {
        const unsigned bit = bit_for(p.key);
        if (bit == 0) return {};  // unknown keys (supportcrypto, corrupt, ...) are ignored
        if ((seen & bit) != 0) {
            return fail(errc::duplicate_param, std::string(p.key) + " given twice", p.value_offset);
        }
        seen |= bit;
        return apply_param(req, bit, p, limits);
    });
    if (!r) return std::unexpected(std::move(r.error()));
    if ((seen & seen_hash) == 0)
        return fail(errc::missing_param, "missing info_hash", query.size());
    if ((seen & seen_peer) == 0) return fail(errc::missing_param, "missing peer_id", query.size());
    if ((seen & seen_port) == 0) return fail(errc::missing_param, "missing port", query.size());
    return req;
}

result<std::vector<info_hash>> parse_scrape_query(std::string_view query,
                                                  const http_query_limits& limits) {
    if (query.size() > limits.max_target_bytes) {
        return fail(errc::too_long, "query too long", limits.max_target_bytes);
    }
    std::vector<info_hash> hashes;
    auto r = for_each_param(query, limits, [&](const raw_param& p) -> result<void> {
        if (p.key != "info_hash") return {};
        if (hashes.size() >= limits.max_scrape_hashes) {
            return fail(errc::too_many_params, "too many info hashes", p.value_offset);
        }
        auto v = decode_20(p, "info_hash");
        if (!v) return std::unexpected(std::move(v.error()));
        hashes.push_back(info_hash{*v});
        return {};
    });
    if (!r) return std::unexpected(std::move(r.error()));
    return hashes;
}

std::string build_announce_query(const announce_request& request) {
    std::string q;
    q.reserve(256);
    q += "info_hash=";
    q += percent_encode(request.hash.bytes);
    q += "&peer_id=";
    q += percent_encode(request.peer_id);
    q += "&port=" + std::to_string(request.port);
    q += "&uploaded=" + std::to_string(request.uploaded);
    q += "&downloaded=" + std::to_string(request.downloaded);
    q += "&left=" + std::to_string(request.left);
    q += request.format == peer_list_format::compact ? "&compact=1" : "&compact=0";
    switch (request.event) {
    case announce_event::started: q += "&event=started"; break;
    case announce_event::completed: q += "&event=completed"; break;
    case announce_event::stopped: q += "&event=stopped"; break;
    case announce_event::none: break;
    }
    if (request.numwant) q += "&numwant=" + std::to_string(*request.numwant);
    auto text = [](std::string_view s) {
        return percent_encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    };
    if (!request.ip.empty()) q += "&ip=" + text(request.ip);
    if (!request.key.empty()) q += "&key=" + text(request.key);
    return q;
}

}  // namespace minibit::wire
