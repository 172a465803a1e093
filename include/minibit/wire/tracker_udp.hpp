// UDP tracker protocol codecs (BEP 15): connect, announce (IPv4 and IPv6 peer lists), scrape
// and error packets, in both directions. Big-endian, exact lengths and action codes checked.
// Encoders append into a caller-owned buffer so a server reuses one per loop. Pure; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::wire {

enum class tracker_udp_errc {
    truncated = 1,    ///< shorter than the fixed part of its action
    bad_length,       ///< length not matching the action's layout
    bad_protocol_id,  ///< connect request without BEP 15's magic constant
    bad_action,       ///< action code unknown or not valid in this direction
    bad_event,        ///< announce event above 3
    too_many_hashes,  ///< scrape with zero or more than the allowed info hashes
};
[[nodiscard]] constexpr std::string_view error_domain(tracker_udp_errc) {
    return "tracker_udp";
}

/// BEP 15 action codes.
enum class udp_action : std::uint32_t { connect = 0, announce = 1, scrape = 2, error = 3 };

/// BEP 15: the magic protocol id of a connect request.
inline constexpr std::uint64_t udp_protocol_id = 0x41727101980ULL;
/// BEP 15: fixed sizes of each packet.
inline constexpr std::size_t udp_connect_bytes = 16;
inline constexpr std::size_t udp_announce_request_bytes = 98;
inline constexpr std::size_t udp_scrape_header_bytes = 16;
inline constexpr std::size_t udp_announce_response_header_bytes = 20;
/// opentracker caps scrapes at 74 hashes (16 + 74 * 20 bytes fits one ethernet MTU).
inline constexpr std::size_t udp_max_scrape_hashes = 74;

/// Client to tracker: connect.
struct udp_connect_request {
    std::uint32_t transaction_id = 0;
    bool operator==(const udp_connect_request&) const = default;
};

/// Client to tracker: announce (98 bytes; BEP 41 option bytes after it are ignored).
struct udp_announce_request {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    info_hash hash;
    peer_id_bytes peer_id{};
    std::uint64_t downloaded = 0;
    std::uint64_t left = 0;
    std::uint64_t uploaded = 0;
    announce_event event = announce_event::none;
    std::uint32_t ip = 0;  ///< 0: use the sender's address
    std::uint32_t key = 0;
    std::int32_t num_want = -1;  ///< -1: the tracker's default
    std::uint16_t port = 0;
    bool operator==(const udp_announce_request&) const = default;
};

/// Client to tracker: scrape of 1..74 info hashes.
struct udp_scrape_request {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    std::vector<info_hash> hashes;
    bool operator==(const udp_scrape_request&) const = default;
};

using udp_request = std::variant<udp_connect_request, udp_announce_request, udp_scrape_request>;

/// Tracker to client: connect answer.
struct udp_connect_response {
    std::uint32_t transaction_id = 0;
    std::uint64_t connection_id = 0;
    bool operator==(const udp_connect_response&) const = default;
};

/// Tracker to client: announce answer; `peers` holds 6-byte (IPv4) or 18-byte (IPv6) records.
struct udp_announce_response {
    std::uint32_t transaction_id = 0;
    std::uint32_t interval = 0;
    std::uint32_t leechers = 0;
    std::uint32_t seeders = 0;
    std::vector<std::uint8_t> peers;
    bool operator==(const udp_announce_response&) const = default;
};

/// Tracker to client: scrape answer, one triple per requested hash in request order.
struct udp_scrape_response {
    struct counts {
        std::uint32_t seeders = 0;
        std::uint32_t completed = 0;
        std::uint32_t leechers = 0;
        bool operator==(const counts&) const = default;
    };
    std::uint32_t transaction_id = 0;
    std::vector<counts> entries;
    bool operator==(const udp_scrape_response&) const = default;
};

/// Tracker to client: error with a message.
struct udp_error_response {
    std::uint32_t transaction_id = 0;
    std::string message;
    bool operator==(const udp_error_response&) const = default;
};

using udp_response = std::variant<udp_connect_response, udp_announce_response, udp_scrape_response,
                                  udp_error_response>;

/// Which peer record size an announce response carries (BEP 15: set by the socket's family).
enum class udp_peer_family : std::uint8_t { ipv4 = 6, ipv6 = 18 };

/// Reads the transaction id of a request of 16+ bytes (to address an error reply).
[[nodiscard]] result<std::uint32_t> udp_transaction_id(std::span<const std::uint8_t> packet);

/// Parses a packet a tracker receives; error offsets index into `packet`.
[[nodiscard]] result<udp_request> parse_udp_request(std::span<const std::uint8_t> packet);

/// Parses a packet a client receives; `family` fixes the announce peer record size.
[[nodiscard]] result<udp_response> parse_udp_response(std::span<const std::uint8_t> packet,
                                                      udp_peer_family family);

/// Appends the encoding of a request to `out`.
void encode_udp(const udp_request& request, std::vector<std::uint8_t>& out);

/// Appends the encoding of a response to `out`.
void encode_udp(const udp_response& response, std::vector<std::uint8_t>& out);

}  // namespace minibit::wire
