// Topology zones for peer lists: which zone (rack, room, region) an address is in. Built from a
// zones file (flag --zones: "CIDR ZONE" per line, IPv4 and IPv6, '#' comments, the longest
// prefix wins) or, without one, the default: addresses in the same /24 (IPv4) or /64 (IPv6)
// share a zone, as do addresses no line of a file covers. The prefixes are flattened at load
// into sorted disjoint ranges, so a lookup is one binary search (no file: one shift).
// Immutable once built; any thread may read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"

namespace minibit::tracker {

/// IPv6 addresses as 128-bit numbers (a GCC and Clang extension, hence __extension__).
__extension__ typedef unsigned __int128 ipv6_key;  // NOLINT(modernize-use-using)

/// A zone as the peer lists compare it: a named zone of the file, or a default /24 or /64.
struct zone_id {
    enum class kind : std::uint8_t { named, v4_net, v6_net };
    kind from = kind::named;
    std::uint64_t value = 0;  ///< the name's index, or the /24 (v4) or /64 (v6) prefix bits
    bool operator==(const zone_id&) const = default;
};

/// The prefix -> zone map; default-constructed it is the /24 and /64 rule alone.
class zone_map {
public:
    zone_map() = default;

    /// Parses zones text; an error names the 1-based line ("line 7: ...") and its byte offset.
    [[nodiscard]] static result<zone_map> parse(std::string_view text);
    /// Reads and parses a zones file (at most 64 MiB); errors start with the path.
    [[nodiscard]] static result<zone_map> load(const std::filesystem::path& file);

    /// The zone of a 4-byte IPv4 or 16-byte IPv6 address (network order).
    [[nodiscard]] zone_id zone_of(std::span<const std::uint8_t> ip) const;
    /// The zone's name: the file's name for a named zone, else "a.b.c.0/24" or "x:x:x:x::/64".
    [[nodiscard]] std::string name_of(const zone_id& z) const;
    /// Whether any line of the file covers addresses of this size (4: IPv4, 16: IPv6); without
    /// one, every such address is in its /24 or /64 zone.
    [[nodiscard]] bool has_prefixes(std::size_t address_bytes) const {
        return address_bytes == 4 ? !v4_.starts.empty() : !v6_.starts.empty();
    }
    /// Prefix lines the map was built from.
    [[nodiscard]] std::size_t prefix_count() const { return prefixes_; }
    /// Distinct zone names of the file.
    [[nodiscard]] std::size_t zone_count() const { return names_.size(); }
    /// A number no other map built in this process has (a copy shares it): peer lists key
    /// their zone index to it, so a reloaded map rebuilds the indexes.
    [[nodiscard]] std::uint64_t serial() const { return serial_; }

    /// Sorted range starts and, per range, the name index + 1 (0: no line covers it).
    template <class Key>
    struct ranges {
        std::vector<Key> starts;
        std::vector<std::uint32_t> zones;
    };

private:
    static std::uint64_t next_serial();

    std::uint64_t serial_ = next_serial();
    ranges<std::uint32_t> v4_;
    ranges<ipv6_key> v6_;
    std::vector<std::string> names_;
    std::size_t prefixes_ = 0;
};

}  // namespace minibit::tracker
