// Allow or deny list of info hashes (40 hex digits per line, '#' comments, blank lines ignored),
// loaded at start and reloaded on SIGHUP. Immutable once built: front ends share one through a
// std::shared_ptr<const info_hash_filter> swapped atomically, so any thread may read it.
#pragma once

#include <filesystem>
#include <string_view>
#include <unordered_set>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {

/// Whether the listed hashes are the only ones served or the ones refused.
enum class filter_mode : std::uint8_t { allow_all, allow_listed, deny_listed };

/// An immutable set of info hashes with a mode.
class info_hash_filter {
public:
    /// Serves every torrent.
    info_hash_filter() = default;

    /// Parses list text; error offsets are byte offsets of the bad line.
    [[nodiscard]] static result<info_hash_filter> parse(std::string_view text, filter_mode mode);
    /// Reads and parses a list file (at most 64 MiB).
    [[nodiscard]] static result<info_hash_filter> load(const std::filesystem::path& file,
                                                       filter_mode mode);

    /// True when announces and scrapes for this hash are served.
    [[nodiscard]] bool allows(const info_hash& hash) const;
    [[nodiscard]] std::size_t size() const { return hashes_.size(); }

private:
    filter_mode mode_ = filter_mode::allow_all;
    std::unordered_set<info_hash> hashes_;
};

}  // namespace minibit::tracker
