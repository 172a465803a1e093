// A small command-line reader shared by the three programs: positional arguments plus
// `--name VALUE`, `--name=VALUE` and boolean `--name` flags, with repeatable flags.
// Usage errors throw usage_error, which each main() prints as one line and exits 2.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "usage_error.hpp"

namespace minibit::apps {

/// Parsed arguments of one (sub)command.
class flags {
public:
    /// Parses argv[first..argc); `valued` lists flags that take a value, `switches` those that do not.
    flags(int argc, char** argv, int first, const std::set<std::string, std::less<>>& valued,
          const std::set<std::string, std::less<>>& switches);

    [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }
    [[nodiscard]] bool has(std::string_view name) const;
    /// The last value given for `name`, if any.
    [[nodiscard]] std::optional<std::string> get(std::string_view name) const;
    /// Every value given for a repeatable flag, in order.
    [[nodiscard]] std::vector<std::string> all(std::string_view name) const;
    /// The value as an unsigned integer within [min, max]; usage_error otherwise.
    [[nodiscard]] std::optional<std::uint64_t> get_uint(std::string_view name, std::uint64_t min,
                                                        std::uint64_t max) const;
    /// The value as seconds (a decimal number, e.g. 0.5); usage_error when malformed or negative.
    [[nodiscard]] std::optional<double> get_seconds(std::string_view name) const;

private:
    std::vector<std::string> positional_;
    std::multimap<std::string, std::string, std::less<>> values_;
};

/// Parses a decimal unsigned integer within [min, max]; usage_error naming `what` otherwise.
[[nodiscard]] std::uint64_t parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max,
                                       std::string_view what);

}  // namespace minibit::apps
