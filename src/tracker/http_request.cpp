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

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool contains_token(std::string_view list, std::string_view token) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
        std::size_t end = list.find(',', pos);
        if (end == std::string_view::npos) end = list.size();
        if (iequals(trim(list.substr(pos, end - pos)), token)) return true;
        pos = end + 1;
    }
    return false;
}

// Applies one header line to the head; offset is the line's start for errors.
result<void> apply_header(std::string_view line, std::size_t offset, http_head& head) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line[colon - 1] == ' ' ||
        line[colon - 1] == '\t') {
        return fail(http_errc::bad_header, "malformed header line", offset);
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "connection")) {
        if (contains_token(value, "close")) head.persist = keep_alive::no;
        if (contains_token(value, "keep-alive")) head.persist = keep_alive::yes;
    } else if (iequals(name, "content-length")) {
        if (value != "0") return fail(http_errc::has_body, "request bodies are not accepted", offset);
    } else if (iequals(name, "transfer-encoding")) {
        return fail(http_errc::has_body, "request bodies are not accepted", offset);
    }
    return {};
}

result<void> parse_request_line(std::string_view line, http_head& head) {
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
        return fail(http_errc::bad_request_line, "malformed request line", 0);
    }
    const std::string_view version = line.substr(sp2 + 1);
    if (version == "HTTP/1.0") {
        head.persist = keep_alive::no;  // HTTP/1.0 closes unless it asks for keep-alive
    } else if (version != "HTTP/1.1") {
        return fail(http_errc::bad_request_line, "unsupported HTTP version", sp2 + 1);
    }
    if (line.substr(0, sp1) != "GET") return fail(http_errc::bad_method, "only GET is served", 0);
    head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    return {};
}

}  // namespace

result<http_head> parse_http_head(std::string_view buffer, const http_limits& limits) {
    const std::size_t end = buffer.substr(0, limits.max_head_bytes).find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (buffer.size() >= limits.max_head_bytes) {
            return fail(http_errc::too_large, "request head too large", limits.max_head_bytes);
        }
        return fail(http_errc::incomplete, "request head incomplete", buffer.size());
    }
    http_head head;
    head.head_bytes = end + 4;
    std::size_t line_end = buffer.find("\r\n");
    if (auto r = parse_request_line(buffer.substr(0, line_end), head); !r) {
        return std::unexpected(std::move(r.error()));
    }
    std::size_t count = 0;
    for (std::size_t pos = line_end + 2; pos < end + 2; pos = line_end + 2) {
        line_end = buffer.find("\r\n", pos);
        if (++count > limits.max_headers) {
            return fail(http_errc::too_many_headers, "too many headers", pos);
        }
        if (auto r = apply_header(buffer.substr(pos, line_end - pos), pos, head); !r) {
            return std::unexpected(std::move(r.error()));
        }
    }
    return head;
}

}  // namespace minibit::tracker
