// The project-wide result type: a value or a minibit::error.
// Parsers and codecs return result<T>; the error carries a domain (which part failed), a code,
// a short human reason and, for parsers, the byte offset where the input went wrong.
// Any thread may use these types; they own no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace minibit {

/// An error as a value: which part, which code, why, and (for parsers) where.
struct error {
    std::string_view domain;            ///< static string naming the part: "bencode", "io", ...
    int code = 0;                       ///< the part's enum value, or an errno for io
    std::string reason;                 ///< short, human, no trailing period
    std::optional<std::size_t> offset;  ///< byte offset into the parsed input, when known

    /// One line for a user: "bencode: at byte 12: integer has a leading zero".
    [[nodiscard]] std::string message() const;
};

/// Builds an error from a per-part enum; the enum's namespace provides error_domain(E).
template <class E>
    requires std::is_enum_v<E>
[[nodiscard]] error make_error(E code, std::string reason,
                               std::optional<std::size_t> offset = std::nullopt) {
    return error{error_domain(code), static_cast<int>(code), std::move(reason), offset};
}

/// Tests whether an error came from the given per-part code.
template <class E>
    requires std::is_enum_v<E>
[[nodiscard]] bool is(const error& e, E code) {
    return e.domain == error_domain(code) && e.code == static_cast<int>(code);
}

template <class T>
using result = std::expected<T, error>;

/// Shorthand for returning an error from a function that returns result<T>.
template <class E>
    requires std::is_enum_v<E>
[[nodiscard]] std::unexpected<error> fail(E code, std::string reason,
                                          std::optional<std::size_t> offset = std::nullopt) {
    return std::unexpected(make_error(code, std::move(reason), offset));
}

}  // namespace minibit
