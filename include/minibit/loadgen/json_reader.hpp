// A small, bounded JSON reader for the peers' --stats-json files, and string escaping for the
// driver's own --json output. Not a general JSON library: numbers are doubles, objects keep
// their keys in file order, depth and size are limited. Value types; any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {

/// One JSON value: null, boolean, number, string, array or object.
struct json_value {
    using array = std::vector<json_value>;
    using object = std::vector<std::pair<std::string, json_value>>;
    std::variant<std::nullptr_t, bool, double, std::string, array, object> data;

    /// The member `key` of an object, or nullptr (also when this is not an object).
    [[nodiscard]] const json_value* find(std::string_view key) const;
    /// The member at a dotted path ("messages.sent.piece"), or nullptr.
    [[nodiscard]] const json_value* at_path(std::string_view dotted) const;
    /// The number held, or nullopt when this is not a number.
    [[nodiscard]] std::optional<double> number() const;
    /// The object's members, or nullptr when this is not an object.
    [[nodiscard]] const object* members() const { return std::get_if<object>(&data); }
};

/// Limits for parsing a file we did not write ourselves.
struct json_limits {
    std::size_t max_bytes = 1U << 20U;  ///< whole document
    std::size_t max_depth = 32;         ///< nested arrays/objects
};

/// Parses one JSON document; errors carry the byte offset.
[[nodiscard]] result<json_value> parse_json(std::string_view text, const json_limits& limits = {});

/// Quotes and escapes a string for JSON output.
[[nodiscard]] std::string json_quote(std::string_view text);

}  // namespace minibit::loadgen
