#include "minibit/swarm/tracker_url.hpp"

#include <curl/curl.h>

#include <charconv>
#include <memory>

#include "minibit/swarm/torrent_options.hpp"

namespace minibit::swarm {
namespace {

struct url_deleter {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct text_deleter {
    void operator()(char* p) const { curl_free(p); }
};
using curl_text = std::unique_ptr<char, text_deleter>;

/// One part of a parsed URL, or "" when it has none.
std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
    char* raw = nullptr;
    if (curl_url_get(u, part, &raw, flags) != CURLUE_OK || raw == nullptr) return {};
    const curl_text owned(raw);
    return owned.get();
}

}  // namespace

result<tracker_url> parse_tracker_url(std::string_view url) {
    tracker_url out;
    if (url.starts_with("http://")) {
        out.scheme = tracker_scheme::http;
    } else if (url.starts_with("https://")) {
        out.scheme = tracker_scheme::https;
    } else if (url.starts_with("udp://")) {
        out.scheme = tracker_scheme::udp;
    } else {
        return fail(swarm_errc::bad_tracker_url,
                    "only http://, https:// and udp:// trackers are supported", 0);
    }
    // libcurl reads "http:///x" as host "x"; an empty authority is a typo, not a host.
    if (url.substr(url.find("//") + 2).starts_with('/')) {
        return fail(swarm_errc::bad_tracker_url, "empty host");
    }
    const std::unique_ptr<CURLU, url_deleter> u(curl_url());
    if (!u) return fail(swarm_errc::bad_tracker_url, "out of memory");
    const std::string text(url);
    const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(),
                                      CURLU_NON_SUPPORT_SCHEME);
    if (rc != CURLUE_OK) {
        return fail(swarm_errc::bad_tracker_url, curl_url_strerror(rc));
    }
    out.host = url_part(u.get(), CURLUPART_HOST);
    if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
        out.host = out.host.substr(1, out.host.size() - 2);
    }
    if (out.host.empty()) return fail(swarm_errc::bad_tracker_url, "empty host");
    const std::string port = url_part(u.get(), CURLUPART_PORT,
                                      out.scheme == tracker_scheme::udp ? 0U : CURLU_DEFAULT_PORT);
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || r.ec != std::errc{} || value == 0 || value > 65535) {
        return fail(swarm_errc::bad_tracker_url, "bad or missing port");
    }
    out.port = static_cast<std::uint16_t>(value);
    return out;
}

}  // namespace minibit::swarm
