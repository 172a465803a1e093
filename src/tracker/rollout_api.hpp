// The rollout endpoints of the tracker's HTTP port: GET /v1/torrents, GET /v1/torrents/{hash},
// PUT and DELETE /v1/torrents/{hash}/expect (bearer token), and the live page at / with its
// script and style. Answers JSON errors (4xx) to anything else under /v1 and changes nothing.
// Private to tracker/; stateless apart from its references, so every reactor thread shares one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "minibit/tracker/rollout_table.hpp"
#include "minibit/tracker/service.hpp"
#include "minibit/wire/http_head.hpp"

namespace minibit::tracker {

/// Who may use the endpoints.
struct rollout_access {
    std::optional<std::string> admin_token;  ///< writes need it; without one writes are off
    bool protect_reads = false;              ///< reads need it too (the page sends it)
};

/// An answer and its extra header lines.
struct rollout_answer {
    http_reply reply;
    std::string headers;
};

/// What take() did with the bytes at the start of a connection's buffer.
struct rollout_outcome {
    enum class kind : std::uint8_t { not_mine, incomplete, reply };
    kind what = kind::not_mine;
    rollout_answer answer;     ///< when what is reply
    std::size_t consumed = 0;  ///< head and body bytes of the request answered
    wire::http_connection persist = wire::http_connection::close;
};

class rollout_api {
public:
    rollout_api(tracker_service& service, rollout_table& table, rollout_access access);

    /// Answers the request at the start of `buffer` when its target is / or under /v1/ or
    /// /ui/; not_mine for every other target (or a head not complete yet), so the tracker's
    /// own parser handles it; incomplete while a body is still arriving.
    [[nodiscard]] rollout_outcome take(std::string_view buffer,
                                       const wire::http_limits& limits) const;

private:
    [[nodiscard]] rollout_answer route(const wire::http_request_head& head,
                                       std::string_view body) const;
    [[nodiscard]] rollout_answer route_v1(const wire::http_request_head& head,
                                          std::string_view path, std::string_view body) const;
    [[nodiscard]] bool authorized(const wire::http_request_head& head) const;
    [[nodiscard]] rollout_answer list() const;
    [[nodiscard]] rollout_answer one(const info_hash& hash) const;
    [[nodiscard]] rollout_answer expect(const info_hash& hash, std::string_view method,
                                        std::string_view body) const;

    tracker_service& service_;
    rollout_table& table_;
    rollout_access access_;
};

}  // namespace minibit::tracker
