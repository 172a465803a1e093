// BEP 10 extension handshake: the bencoded dictionary sent as extended message id 0.
// Only the keys MiniBit uses are kept (m, v, p, reqq, metadata_size); others are skipped with a
// bounded nesting depth. Parsing reads only inside the given span. Value types; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::wire {

/// The fields of a BEP 10 handshake that MiniBit reads or writes.
struct extension_handshake {
    std::map<std::string, std::uint8_t, std::less<>> m;  ///< extension name -> id (0: disabled)
    std::optional<std::string> v;                        ///< client name and version
    std::optional<std::uint16_t> p;                      ///< listen port
    std::optional<std::uint32_t> reqq;                   ///< outstanding requests it accepts
    std::optional<std::uint64_t> metadata_size;          ///< BEP 9: info dictionary size
    bool operator==(const extension_handshake&) const = default;
};

/// Limits for parsing a peer's extension handshake.
struct extension_limits {
    std::size_t max_depth = 8;       ///< nesting of skipped unknown values
    std::size_t max_m_entries = 64;  ///< entries in the `m` dictionary
    std::size_t max_string_bytes = 256;
};

/// Bencodes h with keys in sorted order (canonical form).
[[nodiscard]] std::string encode_extension_handshake(const extension_handshake& h);

/// Parses an extended-message-0 payload; offsets in errors are into `payload`.
[[nodiscard]] result<extension_handshake> parse_extension_handshake(
    std::span<const std::uint8_t> payload, extension_limits limits = {});

}  // namespace minibit::wire
