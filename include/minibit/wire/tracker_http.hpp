// HTTP tracker codecs (BEP 3 announce, BEP 23 compact peers, BEP 7 peers6, BEP 48 scrape).
// Server side: strict, bounded parsing of the request target's query; bencoded responses.
// Client side: building the announce query and parsing a tracker's bencoded answer.
// Pure functions on value types, no I/O; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"

namespace minibit::wire {

enum class tracker_http_errc {
    bad_target = 1,   ///< not a path with an optional query, or a forbidden character
    bad_escape,       ///< a '%' not followed by two hex digits
    too_long,         ///< query or a value over its limit
    too_many_params,  ///< more key=value pairs than allowed
    duplicate_param,  ///< a single-valued parameter given twice
    missing_param,    ///< info_hash, peer_id or port absent
    bad_length,       ///< info_hash or peer_id not exactly 20 bytes
    bad_number,       ///< not a non-negative decimal integer in range
    bad_event,        ///< event not in {started, completed, stopped, empty}
    bad_bencode,      ///< (client) the response is not the bencode we expect
    tracker_failure,  ///< (client) the tracker answered with a failure reason
};
[[nodiscard]] constexpr std::string_view error_domain(tracker_http_errc) {
    return "tracker_http";
}

/// A 20-byte peer id as sent in announces (BEP 3).
using peer_id_bytes = std::array<std::uint8_t, 20>;

/// Announce event; the numbering is BEP 15's, shared with the UDP codec.
enum class announce_event : std::uint8_t { none = 0, completed = 1, started = 2, stopped = 3 };

/// How peers are listed in an announce response.
enum class peer_list_format : std::uint8_t { compact, dictionaries };

/// One announce, as the tracker receives it and as a client sends it.
struct announce_request {
    info_hash hash;
    peer_id_bytes peer_id{};
    std::uint16_t port = 0;
    std::uint64_t uploaded = 0;
    std::uint64_t downloaded = 0;
    std::uint64_t left = 0;
    announce_event event = announce_event::none;
    peer_list_format format = peer_list_format::compact;
    std::optional<std::uint32_t> numwant;  ///< already capped at the limit's max_numwant
    std::string ip;                        ///< optional `ip` parameter, raw (may be empty)
    std::string key;                       ///< optional `key` parameter, raw (may be empty)

    bool operator==(const announce_request&) const = default;
};

/// Bounds applied by the parsers; hostile input never costs more than these.
struct http_query_limits {
    std::size_t max_target_bytes = 4096;  ///< whole request target (path + query)
    std::size_t max_params = 32;
    std::size_t max_value_bytes = 128;   ///< decoded bytes per value
    std::uint32_t max_numwant = 200;     ///< larger numwant values are capped, not refused
    std::size_t max_scrape_hashes = 74;  ///< opentracker's cap; keeps answers small
};

/// The request target split at the first '?'.
struct request_target {
    std::string_view path;
    std::string_view query;
};

/// Splits "/announce?x=y" into path and query; rejects empty, relative or over-long targets.
[[nodiscard]] result<request_target> split_request_target(std::string_view target,
                                                          const http_query_limits& limits);

/// Strict percent-decoding of one query component; `base` is added to error offsets.
[[nodiscard]] result<std::string> percent_decode(std::string_view in, std::size_t base = 0);

/// Percent-encodes every byte outside RFC 3986's unreserved set.
[[nodiscard]] std::string percent_encode(std::span<const std::uint8_t> bytes);

/// Parses an announce query (the part after '?'); error offsets index into `query`.
[[nodiscard]] result<announce_request> parse_announce_query(std::string_view query,
                                                            const http_query_limits& limits);

/// Parses a scrape query: zero or more info_hash parameters, other keys ignored.
[[nodiscard]] result<std::vector<info_hash>> parse_scrape_query(std::string_view query,
                                                                const http_query_limits& limits);

/// Builds the announce query (no leading '?') a client appends to the tracker URL.
[[nodiscard]] std::string build_announce_query(const announce_request& request);

/// A peer as a tracker lists it: IPv4 (4 address bytes) or IPv6 (16), port in host order.
struct peer_endpoint {
    std::array<std::uint8_t, 16> address{};
    std::uint8_t address_bytes = 4;  ///< 4 or 16
    std::uint16_t port = 0;

    bool operator==(const peer_endpoint&) const = default;
};

/// An announce answer (server encodes it; client parses it).
struct announce_response {
    std::uint32_t interval = 1800;
    std::optional<std::uint32_t> min_interval;
    std::uint32_t complete = 0;        ///< seeders
    std::uint32_t incomplete = 0;      ///< leechers
    std::vector<std::uint8_t> peers4;  ///< BEP 23 compact: 6 bytes per peer (address, port BE)
    std::vector<std::uint8_t> peers6;  ///< BEP 7 compact: 18 bytes per peer
    std::string warning_message;       ///< empty when absent

    bool operator==(const announce_response&) const = default;
};

/// One torrent's scrape counters (BEP 48).
struct scrape_entry {
    info_hash hash;
    std::uint32_t complete = 0;
    std::uint32_t downloaded = 0;
    std::uint32_t incomplete = 0;

    bool operator==(const scrape_entry&) const = default;
};

/// Bencodes an announce answer; `dictionaries` lists peers as {ip, port} dicts (compact=0).
[[nodiscard]] std::string encode_announce_response(const announce_response& response,
                                                   peer_list_format format);

/// Bencodes a scrape answer: "files" keyed by raw info hash, sorted as bencode requires.
[[nodiscard]] std::string encode_scrape_response(std::span<const scrape_entry> entries);

/// Bencodes {"failure reason": reason}.
[[nodiscard]] std::string encode_failure_response(std::string_view reason);

/// Bounds for the client-side response parser.
struct http_response_limits {
    std::size_t max_body_bytes = 1 << 20;
    std::size_t max_peers = 2000;  ///< per address family
    std::size_t max_string_bytes = 1 << 16;
    std::size_t max_depth = 8;
};

/// Parses a tracker's announce answer; a "failure reason" becomes tracker_failure.
[[nodiscard]] result<announce_response> parse_announce_response(std::string_view body,
                                                                const http_response_limits& limits);

/// Parses a scrape answer into its entries, sorted by info hash.
[[nodiscard]] result<std::vector<scrape_entry>> parse_scrape_response(
    std::string_view body, const http_response_limits& limits);

}  // namespace minibit::wire
