#include "minibit/swarm/tracker_url.hpp"

#include <charconv>
#include <limits>
#include <optional>

#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::swarm {
namespace {

std::optional<std::uint64_t> parse_number(std::string_view text, int base = 10) {
    std::uint64_t v = 0;
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, v, base);
    if (text.empty() || r.ec != std::errc{} || r.ptr != end) {
        return std::nullopt;
    }
    return v;
}

/// Response heads up to 16 KiB (a tracker's are a few hundred bytes); the body cap is the
/// caller's.
wire::http_limits response_limits(std::uint64_t max_body_bytes) {
    wire::http_limits l;
    l.max_head_bytes = 16384;
    l.max_body_bytes = max_body_bytes;
    return l;
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
        return fail(swarm_errc::bad_tracker_url, "only http:// and udp:// trackers are supported",
                    0);
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
    // No body cap here: the transport bounds the buffer, http_response_body the body.
    const auto limits = response_limits(std::numeric_limits<std::uint64_t>::max());
    const auto h = wire::parse_http_response(raw, limits);
    if (!h) {
        if (is(h.error(), wire::http_errc::incomplete)) return http_progress::need_more;
        return std::unexpected(h.error());
    }
    const std::string_view body = raw.substr(h->head_bytes);
    switch (h->framing) {
    case wire::body_framing::none: return http_progress::complete;
    case wire::body_framing::content_length:
        return body.size() >= h->content_length ? http_progress::complete
                                                : http_progress::need_more;
    case wire::body_framing::chunked: {
        wire::http_body_decoder d(*h, limits);
        std::string scratch;
        if (auto r = d.feed(body, scratch); !r) return std::unexpected(r.error());
        return d.done() ? http_progress::complete : http_progress::need_more;
    }
    case wire::body_framing::until_close: break;
    }
    return http_progress::need_more;  // complete only at end of stream
}

result<std::string> http_response_body(std::string_view raw, std::size_t max_body_bytes) {
    const auto limits = response_limits(max_body_bytes);
    const auto h = wire::parse_http_response(raw, limits);
    if (!h) {
        if (is(h.error(), wire::http_errc::incomplete)) {
            return fail(swarm_errc::tracker_failed, "HTTP response ended inside the header");
        }
        return std::unexpected(h.error());
    }
    if (h->status != 200) {
        return fail(swarm_errc::tracker_failed, "HTTP status " + std::to_string(h->status));
    }
    wire::http_body_decoder d(*h, limits);
    std::string body;
    if (auto r = d.feed(raw.substr(h->head_bytes), body); !r) return std::unexpected(r.error());
    if (auto r = d.finish(); !r) return std::unexpected(r.error());
    return body;
}

}  // namespace minibit::swarm
