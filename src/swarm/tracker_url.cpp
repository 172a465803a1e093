#include "minibit/swarm/tracker_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "minibit/swarm/torrent_options.hpp"

namespace minibit::swarm {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::optional<std::uint64_t> parse_number(std::string_view text, int base = 10) {
    std::uint64_t v = 0;
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, v, base);
    if (text.empty() || r.ec != std::errc{} || r.ptr != end) {
        return std::nullopt;
    }
    return v;
}

struct head {
    int status = 0;
    std::size_t body_at = 0;
    std::optional<std::uint64_t> content_length;
    bool chunked = false;
};

/// Parses the status line and headers; nullopt when the blank line has not arrived yet.
result<std::optional<head>> parse_head(std::string_view raw) {
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (raw.size() > 16384) {
            return fail(swarm_errc::tracker_failed, "HTTP header longer than 16 KiB");
        }
        return std::nullopt;
    }
    head h;
    h.body_at = end + 4;
    std::string_view lines = raw.substr(0, end);
    const auto first_end = lines.find("\r\n");
    const std::string_view status_line = lines.substr(0, first_end);
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
        return fail(swarm_errc::tracker_failed, "not an HTTP/1.x response", 0);
    }
    const auto code = parse_number(status_line.substr(9, 3));
    if (!code) {
        return fail(swarm_errc::tracker_failed, "bad HTTP status code", 9);
    }
    h.status = static_cast<int>(*code);
    std::size_t pos = first_end == std::string_view::npos ? lines.size() : first_end + 2;
    while (pos < lines.size()) {
        auto next = lines.find("\r\n", pos);
        if (next == std::string_view::npos) next = lines.size();
        const std::string_view line = lines.substr(pos, next - pos);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos) {
            const std::string_view name = line.substr(0, colon);
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
            if (iequals(name, "content-length")) {
                h.content_length = parse_number(value);
                if (!h.content_length) {
                    return fail(swarm_errc::tracker_failed, "bad Content-Length", pos);
                }
            } else if (iequals(name, "transfer-encoding") && iequals(value, "chunked")) {
                h.chunked = true;
            }
        }
        pos = next + 2;
    }
    return h;
}

/// Decodes a chunked body; nullopt when incomplete.
result<std::optional<std::string>> dechunk(std::string_view body, std::size_t max_bytes) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        const auto line_end = body.find("\r\n", pos);
        if (line_end == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view size_text = body.substr(pos, line_end - pos);
        size_text = size_text.substr(0, size_text.find(';'));
        const auto size = parse_number(size_text, 16);
        if (!size || *size > max_bytes) {
            return fail(swarm_errc::tracker_failed, "bad chunk size", pos);
        }
        pos = line_end + 2;
        if (*size == 0) {
            return std::optional<std::string>(std::move(out));
        }
        if (body.size() - pos < *size + 2) {
            return std::nullopt;
        }
        if (out.size() + *size > max_bytes) {
            return fail(swarm_errc::tracker_failed, "HTTP body too large", pos);
        }
        out.append(body.substr(pos, *size));
        pos += *size + 2;
    }
}

}  // namespace

result<tracker_url> parse_tracker_url(std::string_view url) {
    tracker_url out;
    std::string_view rest;
    if (url.starts_with("http://")) {
        out.scheme = tracker_scheme::http;
        out.port = 80;
        rest = url.substr(7);
    } else if (url.starts_with("udp://")) {
        out.scheme = tracker_scheme::udp;
        rest = url.substr(6);
    } else {
        return fail(swarm_errc::bad_tracker_url, "only http:// and udp:// trackers are supported", 0);
    }
    const auto slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (out.target.front() == '?') out.target.insert(0, "/");
    std::string_view port_text;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return fail(swarm_errc::bad_tracker_url, "unclosed '[' in host");
        }
        out.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail(swarm_errc::bad_tracker_url, "junk after host");
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) {
        return fail(swarm_errc::bad_tracker_url, "empty host");
    }
    if (!port_text.empty() || out.scheme == tracker_scheme::udp) {
        const auto port = parse_number(port_text);
        if (!port || *port == 0 || *port > 65535) {
            return fail(swarm_errc::bad_tracker_url, "bad or missing port");
        }
        out.port = static_cast<std::uint16_t>(*port);
    }
    return out;
}

result<http_progress> http_response_progress(std::string_view raw) {
    auto h = parse_head(raw);
    if (!h) return std::unexpected(h.error());
    if (!*h) return http_progress::need_more;
    const std::string_view body = raw.substr((*h)->body_at);
    if ((*h)->chunked) {
        auto d = dechunk(body, raw.size());
        if (!d) return std::unexpected(d.error());
        return *d ? http_progress::complete : http_progress::need_more;
    }
    if ((*h)->content_length) {
        return body.size() >= *(*h)->content_length ? http_progress::complete
                                                    : http_progress::need_more;
    }
    return http_progress::need_more;
}

result<std::string> http_response_body(std::string_view raw, std::size_t max_body_bytes) {
    auto h = parse_head(raw);
    if (!h) return std::unexpected(h.error());
    if (!*h) return fail(swarm_errc::tracker_failed, "HTTP response ended inside the header");
    if ((*h)->status != 200) {
        return fail(swarm_errc::tracker_failed, "HTTP status " + std::to_string((*h)->status));
    }
    const std::string_view body = raw.substr((*h)->body_at);
    if ((*h)->chunked) {
        auto d = dechunk(body, max_body_bytes);
        if (!d) return std::unexpected(d.error());
        if (!*d) return fail(swarm_errc::tracker_failed, "chunked body cut short");
        return std::move(**d);
    }
    if ((*h)->content_length) {
        if (body.size() < *(*h)->content_length) {
            return fail(swarm_errc::tracker_failed, "body shorter than Content-Length");
        }
        if (*(*h)->content_length > max_body_bytes) {
            return fail(swarm_errc::tracker_failed, "HTTP body too large");
        }
        return std::string(body.substr(0, *(*h)->content_length));
    }
    if (body.size() > max_body_bytes) {
        return fail(swarm_errc::tracker_failed, "HTTP body too large");
    }
    return std::string(body);
}

}  // namespace minibit::swarm
