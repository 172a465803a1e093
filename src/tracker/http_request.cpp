#include "minibit/tracker/http_request.hpp"

#include <algorithm>
#include <cctype>

namespace minibit::tracker {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// Offset in `buffer` of the header line that announced a body.
std::size_t body_header_offset(const wire::http_request_head& head, std::string_view buffer) {
    for (const auto& h : head.headers) {
        if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding")) {
            return static_cast<std::size_t>(h.name.data() - buffer.data());
        }
    }
    return 0;
}

}  // namespace

result<tracker_request> parse_tracker_request(std::string_view buffer,
                                              const wire::http_limits& limits) {
    auto head = wire::parse_http_request(buffer, limits);
    if (!head) return std::unexpected(std::move(head.error()));
    if (head->method != "GET") return fail(request_errc::bad_method, "only GET is served", 0);
    const bool body = head->framing == wire::body_framing::chunked ||
                      (head->framing == wire::body_framing::content_length &&
                       head->content_length != 0);
    if (body) {
        return fail(request_errc::has_body, "request bodies are not accepted",
                    body_header_offset(*head, buffer));
    }
    return tracker_request{head->target, head->persist, head->head_bytes};
}

}  // namespace minibit::tracker
