// Bencode (BEP 3): a strict, bounded decoder into a value tree and a canonical encoder.
// The decoder never recurses (an explicit stack bounded by max_depth), rejects every
// non-canonical integer, checks each length against the input before allocating, and records
// each value's raw encoding so callers can hash exact bytes (the info dict).
// Value types; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "minibit/core/result.hpp"

namespace minibit {

enum class bencode_errc {
    unexpected_end = 1,  ///< input ended inside a value (offset = input size)
    unexpected_byte,     ///< a value cannot start with this byte
    bad_integer,         ///< leading zero, "-0", empty, '+' sign or a non-digit in an integer
    integer_overflow,    ///< the integer does not fit in int64 (offset = the digit that overflowed)
    bad_string_length,   ///< string length prefix with a leading zero or no ':'
    string_too_long,     ///< string length above max_string_bytes
    too_deep,            ///< containers nested deeper than max_depth
    too_many_elements,   ///< more values than max_elements
    input_too_large,     ///< input longer than max_input_bytes
    key_not_string,      ///< a dict key is not a byte string
    unsorted_key,        ///< a dict key is not greater than the previous one (raw byte order)
    duplicate_key,       ///< a dict key repeats the previous one
    trailing_bytes,      ///< bytes after the top-level value
};
[[nodiscard]] constexpr std::string_view error_domain(bencode_errc) {
    return "bencode";
}

/// Hard cap on nesting whatever the limits say, so that destroying a decoded tree (recursive)
/// cannot overflow the stack.
inline constexpr std::size_t bencode_depth_cap = 1024;

/// Explicit limits for decoding untrusted input.
struct bencode_limits {
    std::size_t max_depth = 64;  ///< nested lists/dicts; the top container is depth 1
    std::size_t max_string_bytes = 64U << 20U;  ///< one byte string
    std::size_t max_input_bytes = 64U << 20U;   ///< whole input
    std::size_t max_elements = 1U << 22U;       ///< values of any kind, dict keys included
    bool lenient_key_order = false;             ///< accept unsorted keys; duplicates still fail
};

/// A bencoded value: integer, byte string, list, or dict (keys kept in input order).
class bvalue {
public:
    enum class kind { integer, string, list, dict };
    using list_type = std::vector<bvalue>;
    using dict_type = std::vector<std::pair<std::string, bvalue>>;

    bvalue() = default;
    /// An integer value.
    explicit bvalue(std::int64_t v) : data_(v) {}
    /// An integer value from an int (so that bvalue(0) is not ambiguous with a null pointer).
    explicit bvalue(int v) : data_(std::int64_t{v}) {}
    /// A byte-string value.
    explicit bvalue(std::string s) : data_(std::move(s)) {}
    /// A byte-string value from a view (copied).
    explicit bvalue(std::string_view s) : data_(std::string(s)) {}
    /// A byte-string value from a C string (copied); avoids the bool conversion trap.
    explicit bvalue(const char* s) : data_(std::string(s)) {}
    /// A list value.
    explicit bvalue(list_type l) : data_(std::move(l)) {}
    /// A dict value; the encoder sorts keys, so insertion order does not matter.
    explicit bvalue(dict_type d) : data_(std::move(d)) {}

    /// An empty list.
    [[nodiscard]] static bvalue make_list() { return bvalue(list_type{}); }
    /// An empty dict.
    [[nodiscard]] static bvalue make_dict() { return bvalue(dict_type{}); }

    /// Which of the four bencode types this is.
    [[nodiscard]] kind type() const { return static_cast<kind>(data_.index()); }
    /// The integer, or nullptr when this is not an integer.
    [[nodiscard]] const std::int64_t* as_int() const { return std::get_if<std::int64_t>(&data_); }
    /// The byte string, or nullptr when this is not a string.
    [[nodiscard]] const std::string* as_string() const { return std::get_if<std::string>(&data_); }
    /// The list, or nullptr when this is not a list.
    [[nodiscard]] const list_type* as_list() const { return std::get_if<list_type>(&data_); }
    /// The dict entries in input order, or nullptr when this is not a dict.
    [[nodiscard]] const dict_type* as_dict() const { return std::get_if<dict_type>(&data_); }
    /// Mutable list access, or nullptr when this is not a list.
    [[nodiscard]] list_type* as_list() { return std::get_if<list_type>(&data_); }
    /// Mutable dict access, or nullptr when this is not a dict.
    [[nodiscard]] dict_type* as_dict() { return std::get_if<dict_type>(&data_); }

    /// The value stored under key in a dict, or nullptr (also when this is not a dict).
    [[nodiscard]] const bvalue* find(std::string_view key) const;
    /// Appends to a list; returns false (and does nothing) when this is not a list.
    bool push_back(bvalue v);
    /// Adds a dict entry; returns false (and does nothing) when this is not a dict.
    bool insert(std::string key, bvalue v);

    /// The exact bytes this value was decoded from, a view into the decoder's input (which must
    /// outlive it); empty for values built in code.
    [[nodiscard]] std::string_view raw() const { return raw_; }
    /// Sets the raw span; used by the decoder.
    void set_raw(std::string_view raw) { raw_ = raw; }

    /// Structural equality (dict entries compared in order); the raw spans are not compared.
    friend bool operator==(const bvalue& a, const bvalue& b) { return a.data_ == b.data_; }

private:
    std::variant<std::int64_t, std::string, list_type, dict_type> data_{std::int64_t{0}};
    std::string_view raw_;
};

/// Decodes exactly one value spanning all of input; the tree's raw() views point into input.
[[nodiscard]] result<bvalue> bdecode(std::string_view input, const bencode_limits& limits = {});

/// Encodes canonically: dict keys sorted by raw bytes, integers in shortest form.
[[nodiscard]] std::string bencode(const bvalue& v);

}  // namespace minibit
