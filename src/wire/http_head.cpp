// HTTP/1.x heads (RFC 9112 sections 2 to 6): walk the head line by line within the limit, check
// the start line and every header line (a table lookup per byte for names, eight bytes at a
// time for the target and values), and derive persistence and body framing, refusing the classic
// request-smuggling ambiguities.
#include "minibit/wire/http_head.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace minibit::wire {
namespace {

// Byte classes, one table lookup per byte on the hot path (the tracker parses every request).
constexpr std::uint8_t tchar_bit = 1;   // RFC 9110 token characters
constexpr std::uint8_t field_bit = 2;   // field-value bytes: VCHAR, obs-text, SP, HTAB
constexpr std::uint8_t target_bit = 4;  // request-target bytes: visible ASCII

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        std::uint8_t v = 0;
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                           (c >= 'A' && c <= 'Z');
        if (alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                         std::string_view::npos) {
            v |= tchar_bit;
        }
        if ((c >= 0x20 && c != 0x7f) || c == '\t') v |= field_bit;
        if (c > 0x20 && c < 0x7f) v |= target_bit;
        t[static_cast<std::size_t>(c)] = v;
    }
    return t;
}
constexpr auto classes = make_classes();

bool has(char c, std::uint8_t bit) {
    return (classes[static_cast<unsigned char>(c)] & bit) != 0;
}

// Eight bytes at a time for the long runs (the target, header values): exact "any byte" tests
// on a 64-bit word (Hacker's Delight / "Bit Twiddling Hacks": hasless, hasmore, haszero).
constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;
bool any_below(std::uint64_t w, std::uint64_t n) {
    return ((w - ones * n) & ~w & highs) != 0;
}
bool any_above(std::uint64_t w, std::uint64_t n) {
    return (((w + ones * (127 - n)) | w) & highs) != 0;
}
bool any_equal(std::uint64_t w, std::uint64_t b) {
    const std::uint64_t x = w ^ (ones * b);
    return ((x - ones) & ~x & highs) != 0;
}
std::uint64_t load8(const char* p) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);
    return w;
}

/// Index of the first byte of `s` from `i` that is not visible ASCII (a request-target byte).
std::size_t skip_target(std::string_view s, std::size_t i) {
    for (; i + 8 <= s.size(); i += 8) {
        const std::uint64_t w = load8(s.data() + i);
        if (any_below(w, 0x21) || any_above(w, 0x7e)) break;
    }
    while (i < s.size() && has(s[i], target_bit)) ++i;
    return i;
}

/// Index of the first byte of `s` from `i` that may not appear in a field value, or s.size().
std::size_t skip_field(std::string_view s, std::size_t i) {
    while (i < s.size()) {
        if (i + 8 <= s.size()) {
            const std::uint64_t w = load8(s.data() + i);
            if (!any_below(w, 0x20) && !any_equal(w, 0x7f)) {
                i += 8;
                continue;
            }
        }
        // A word with a control byte (often only HTAB), or the tail: byte by byte.
        const std::size_t end = std::min(i + 8, s.size());
        for (; i < end; ++i) {
            if (!has(s[i], field_bit)) return i;
        }
    }
    return s.size();
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// "HTTP/1.0" or "HTTP/1.1" at `at`; other "HTTP/d.d" forms are bad_version.
result<http_version> parse_version(std::string_view text, std::size_t at) {
    if (text == "HTTP/1.1") return http_version::http_1_1;
    if (text == "HTTP/1.0") return http_version::http_1_0;
    const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
    if (text.size() == 8 && text.starts_with("HTTP/") && digit(5) && text[6] == '.' && digit(7)) {
        return fail(http_errc::bad_version, "only HTTP/1.0 and HTTP/1.1 are spoken", at);
    }
    return fail(http_errc::bad_start_line, "no HTTP version", at);
}

/// What the header lines say about persistence and framing.
struct framing_fields {
    std::optional<std::uint64_t> content_length;
    std::size_t content_length_at = 0;  ///< line offset of the first Content-Length
    bool chunked = false;               ///< a Transfer-Encoding: chunked line was seen
    std::size_t chunked_at = 0;
    bool close = false;       ///< Connection: close
    bool keep_alive = false;  ///< Connection: keep-alive
};

result<std::uint64_t> parse_length(std::string_view v, std::size_t at) {
    if (v.empty()) return fail(http_errc::bad_content_length, "empty Content-Length", at);
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (c < '0' || c > '9') {
            return fail(http_errc::bad_content_length, "Content-Length is not a number", at + i);
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
            return fail(http_errc::bad_content_length, "Content-Length overflows", at + i);
        }
        n = n * 10 + d;
    }
    return n;
}

/// Applies one framing-relevant header; `line_at` is the line's offset, `value_at` the value's.
result<void> apply_field(std::string_view name, std::string_view value, std::size_t line_at,
                         std::size_t value_at, const http_limits& limits, framing_fields& f) {
    if (iequals(name, "content-length")) {
        auto n = parse_length(value, value_at);
        if (!n) return std::unexpected(std::move(n.error()));
        if (f.content_length && *f.content_length != *n) {
            return fail(http_errc::bad_content_length, "differing Content-Length values", line_at);
        }
        if (*n > limits.max_body_bytes) {
            return fail(http_errc::body_too_large, "body too large: Content-Length above the limit",
                        line_at);
        }
        if (!f.content_length) f.content_length_at = line_at;
        f.content_length = *n;
    } else if (iequals(name, "transfer-encoding")) {
        if (f.chunked) {
            return fail(http_errc::bad_transfer_encoding, "more than one Transfer-Encoding",
                        line_at);
        }
        if (!iequals(value, "chunked")) {
            return fail(http_errc::bad_transfer_encoding, "only chunked transfer coding is spoken",
                        value_at);
        }
        f.chunked = true;
        f.chunked_at = line_at;
    } else if (iequals(name, "connection")) {
        f.close = f.close || http_has_token(value, "close");
        f.keep_alive = f.keep_alive || http_has_token(value, "keep-alive");
    }
    return {};
}

/// Checks one header line (without its CRLF) at offset `at` of the buffer.
result<void> parse_field(std::string_view line, std::size_t at, const http_limits& limits,
                         framing_fields& f) {
    if (line.front() == ' ' || line.front() == '\t') {
        return fail(http_errc::bad_header, "obsolete line folding", at);
    }
    std::size_t i = 0;
    while (i < line.size() && has(line[i], tchar_bit)) ++i;
    if (i == line.size()) return fail(http_errc::bad_header, "header line without ':'", at);
    if (line[i] != ':') {
        const bool space = line[i] == ' ' || line[i] == '\t';
        return fail(http_errc::bad_header,
                    space ? "whitespace before ':'" : "bad character in a header name", at + i);
    }
    if (i == 0) return fail(http_errc::bad_header, "empty header name", at);
    const std::string_view name = line.substr(0, i);
    if (const std::size_t k = skip_field(line, i + 1); k != line.size()) {
        return line[k] == '\r'
                   ? fail(http_errc::bad_line_ending, "bare CR in a header line", at + k)
                   : fail(http_errc::bad_header, "control byte in a header value", at + k);
    }
    std::string_view value = line.substr(i + 1);
    std::size_t lead = 0;
    while (lead < value.size() && (value[lead] == ' ' || value[lead] == '\t')) ++lead;
    const std::size_t value_at = at + i + 1 + lead;
    value = trim(value);
    return apply_field(name, value, at, value_at, limits, f);
}

/// A head walked to its blank line: the framing fields, where the header lines start, and the
/// offset just after the blank line.
struct scanned_head {
    framing_fields fields;
    std::size_t fields_at = 0;
    std::size_t end = 0;
};

/// Walks the head line by line within max_head_bytes (one memchr per line): every line must
/// end in CRLF (a bare LF fails at once, not at the limit or the timeout); the first goes to
/// `start_line`, the others are checked as header lines as soon as they are complete.
template <class StartLine>
result<scanned_head> scan_head(std::string_view buffer, const http_limits& limits,
                               StartLine&& start_line) {
    const std::string_view window = buffer.substr(0, limits.max_head_bytes);
    scanned_head out;
    std::size_t count = 0;
    for (std::size_t pos = 0;;) {
        const std::size_t lf = window.find('\n', pos);
        if (lf == std::string_view::npos) {
            if (buffer.size() >= limits.max_head_bytes) {
                return fail(http_errc::too_large, "head too large", limits.max_head_bytes);
            }
            return fail(http_errc::incomplete, "head incomplete", buffer.size());
        }
        if (lf == 0 || window[lf - 1] != '\r') {
            return fail(http_errc::bad_line_ending, "line ends in a bare LF", lf);
        }
        const std::string_view line = window.substr(pos, lf - 1 - pos);
        if (pos == 0) {
            if (auto r = start_line(line); !r) return std::unexpected(std::move(r.error()));
            out.fields_at = lf + 1;
        } else if (line.empty()) {
            out.end = lf + 1;
            break;
        } else {
            if (++count > limits.max_headers) {
                return fail(http_errc::too_many_headers, "too many header lines", pos);
            }
            if (auto r = parse_field(line, pos, limits, out.fields); !r) {
                return std::unexpected(std::move(r.error()));
            }
        }
        pos = lf + 1;
    }
    const framing_fields& f = out.fields;
    if (f.chunked && f.content_length) {
        return fail(http_errc::conflicting_framing, "both Content-Length and Transfer-Encoding",
                    std::max(f.chunked_at, f.content_length_at));
    }
    return out;
}

/// Fills the common part of a head from its fields.
result<void> finish_head(const scanned_head& scan, std::string_view buffer, http_message_head& h) {
    const framing_fields& f = scan.fields;
    h.head_bytes = scan.end;
    h.headers = http_headers(buffer.substr(scan.fields_at, scan.end - 2 - scan.fields_at));
    if (f.chunked && h.version == http_version::http_1_0) {
        // RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
        return fail(http_errc::bad_transfer_encoding, "Transfer-Encoding in an HTTP/1.0 message",
                    f.chunked_at);
    }
    const bool persist = h.version == http_version::http_1_1 ? !f.close : f.keep_alive && !f.close;
    h.persist = persist ? http_connection::keep_alive : http_connection::close;
    if (f.chunked) {
        h.framing = body_framing::chunked;
    } else if (f.content_length) {
        h.framing = body_framing::content_length;
        h.content_length = *f.content_length;
    } else {
        h.framing = body_framing::none;
    }
    return {};
}

result<void> parse_request_line(std::string_view line, http_request_head& h) {
    std::size_t sp1 = 0;
    while (sp1 < line.size() && has(line[sp1], tchar_bit)) ++sp1;
    if (sp1 == 0 || sp1 == line.size() || line[sp1] != ' ') {
        return fail(http_errc::bad_start_line, "bad method", sp1);
    }
    const std::size_t sp2 = skip_target(line, sp1 + 1);
    if (sp2 == sp1 + 1) return fail(http_errc::bad_start_line, "bad request target", sp2);
    if (sp2 == line.size()) return fail(http_errc::bad_start_line, "no HTTP version", sp2);
    if (line[sp2] != ' ') return fail(http_errc::bad_start_line, "bad byte in the target", sp2);
    auto v = parse_version(line.substr(sp2 + 1), sp2 + 1);
    if (!v) return std::unexpected(std::move(v.error()));
    h.version = *v;
    h.method = line.substr(0, sp1);
    h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    return {};
}

result<void> parse_status_line(std::string_view line, http_response_head& h) {
    auto v = parse_version(line.substr(0, 8), 0);
    if (!v) return std::unexpected(std::move(v.error()));
    h.version = *v;
    const auto digit = [&](std::size_t i) { return line[i] >= '0' && line[i] <= '9'; };
    if (line.size() < 12 || line[8] != ' ' || !digit(9) || !digit(10) || !digit(11) ||
        line[9] < '1' || line[9] > '5') {
        return fail(http_errc::bad_start_line, "bad status code", 8);
    }
    h.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (line.size() > 12) {
        if (line[12] != ' ') return fail(http_errc::bad_start_line, "bad status code", 12);
        if (const std::size_t i = skip_field(line, 13); i != line.size()) {
            return fail(http_errc::bad_start_line, "control byte in the reason phrase", i);
        }
        h.reason = line.substr(13);
    }
    return {};
}

}  // namespace

bool http_has_token(std::string_view list, std::string_view token) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
        std::size_t end = list.find(',', pos);
        if (end == std::string_view::npos) end = list.size();
        if (iequals(trim(list.substr(pos, end - pos)), token)) return true;
        pos = end + 1;
    }
    return false;
}

result<http_request_head> parse_http_request(std::string_view buffer, const http_limits& limits) {
    http_request_head h;
    auto scan = scan_head(buffer, limits,
                          [&h](std::string_view line) { return parse_request_line(line, h); });
    if (!scan) return std::unexpected(std::move(scan.error()));
    if (auto r = finish_head(*scan, buffer, h); !r) return std::unexpected(std::move(r.error()));
    return h;
}

result<http_response_head> parse_http_response(std::string_view buffer, const http_limits& limits) {
    http_response_head h;
    auto scan = scan_head(buffer, limits,
                          [&h](std::string_view line) { return parse_status_line(line, h); });
    if (!scan) return std::unexpected(std::move(scan.error()));
    if (auto r = finish_head(*scan, buffer, h); !r) return std::unexpected(std::move(r.error()));
    if (h.status < 200 || h.status == 204 || h.status == 304) {
        h.framing = body_framing::none;  // RFC 9112 section 6.3, rule 1
        h.content_length = 0;
    } else if (h.framing == body_framing::none) {
        h.framing = body_framing::until_close;  // rule 8: the body ends with the connection
        h.persist = http_connection::close;
    }
    return h;
}

http_headers::iterator::iterator(std::string_view rest) : rest_(rest) {
    load();
}

void http_headers::iterator::load() {
    if (rest_.empty()) return;
    const std::size_t colon = rest_.find(':');
    const std::size_t eol = rest_.find("\r\n", colon);
    current_.name = rest_.substr(0, colon);
    current_.value = trim(rest_.substr(colon + 1, eol - colon - 1));
}

http_headers::iterator& http_headers::iterator::operator++() {
    rest_.remove_prefix(rest_.find("\r\n") + 2);
    load();
    return *this;
}

http_headers::iterator http_headers::iterator::operator++(int) {
    iterator before = *this;
    ++*this;
    return before;
}

std::optional<std::string_view> http_headers::find(std::string_view name) const {
    for (const http_header& h : *this) {
        if (iequals(h.name, name)) return h.value;
    }
    return std::nullopt;
}

}  // namespace minibit::wire
