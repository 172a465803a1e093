#include "minibit/core/bencode.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minibit {

const bvalue* bvalue::find(std::string_view key) const {
    const auto* d = as_dict();
    if (d == nullptr) {
        return nullptr;
    }
    for (const auto& [k, v] : *d) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

bool bvalue::push_back(bvalue v) {
    auto* l = as_list();
    if (l == nullptr) {
        return false;
    }
    l->push_back(std::move(v));
    return true;
}

bool bvalue::insert(std::string key, bvalue v) {
    auto* d = as_dict();
    if (d == nullptr) {
        return false;
    }
    d->emplace_back(std::move(key), std::move(v));
    return true;
}

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

unsigned digit_value(char c) {
    return static_cast<unsigned>(c - '0');
}

// A list or dict under construction. The decoder keeps these on an explicit stack, so a deep
// input costs heap (bounded by max_depth), never native stack.
struct frame {
    bvalue value;
    std::size_t begin = 0;                 // offset of the opening 'l' or 'd'
    std::optional<std::string> key;        // dict: key read, value pending
    std::optional<std::string_view> last;  // dict: previous key, for the order check
    bool unsorted = false;                 // lenient mode saw a key out of order
    std::vector<std::pair<std::string_view, std::size_t>> keys;  // lenient mode: key, offset
};

class decoder {
public:
    decoder(std::string_view in, const bencode_limits& limits)
        : in_(in), limits_(limits), max_depth_(std::min(limits.max_depth, bencode_depth_cap)) {}

    result<bvalue> run();

private:
    result<std::int64_t> parse_int();
    result<std::string_view> parse_string();
    result<void> read_key(frame& f);
    result<void> close_frame(bvalue& out);
    result<void> count_element();
    // One step: a finished value, or nullopt after reading a dict key or opening a container.
    result<std::optional<bvalue>> step();
    result<std::optional<bvalue>> read_scalar();
    // Hands a finished value to the open container; true when it was the top-level value.
    bool deliver(bvalue v, bvalue& root);

    std::string_view in_;
    const bencode_limits& limits_;
    std::size_t max_depth_;
    std::size_t pos_ = 0;
    std::size_t elements_ = 0;
    std::vector<frame> stack_;
};

result<void> decoder::count_element() {
    if (++elements_ > limits_.max_elements) {
        return fail(bencode_errc::too_many_elements, "more values than the element limit", pos_);
    }
    return {};
}

result<std::int64_t> decoder::parse_int() {
    const std::size_t n = in_.size();
    std::size_t p = pos_ + 1;  // past 'i'
    const bool negative = p < n && in_[p] == '-';
    if (negative) {
        ++p;
    }
    if (p >= n) {
        return fail(bencode_errc::unexpected_end, "input ends inside an integer", n);
    }
    if (in_[p] == 'e') {
        return fail(bencode_errc::bad_integer, "integer has no digits", p);
    }
    if (!is_digit(in_[p])) {
        return fail(bencode_errc::bad_integer, "integer has a non-digit", p);
    }
    if (in_[p] == '0' && negative) {
        return fail(bencode_errc::bad_integer, "integer is negative zero", p - 1);
    }
    if (in_[p] == '0' && p + 1 < n && is_digit(in_[p + 1])) {
        return fail(bencode_errc::bad_integer, "integer has a leading zero", p);
    }
    // Accumulate the magnitude; a negative value may reach 2^63 (INT64_MIN).
    constexpr auto max_pos = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::uint64_t limit = negative ? max_pos + 1 : max_pos;
    std::uint64_t mag = 0;
    for (; p < n && is_digit(in_[p]); ++p) {
        const std::uint64_t d = digit_value(in_[p]);
        if (mag > (limit - d) / 10) {
            return fail(bencode_errc::integer_overflow, "integer does not fit in 64 bits", p);
        }
        mag = mag * 10 + d;
    }
    if (p >= n) {
        return fail(bencode_errc::unexpected_end, "input ends inside an integer", n);
    }
    if (in_[p] != 'e') {
        return fail(bencode_errc::bad_integer, "integer has a non-digit", p);
    }
    pos_ = p + 1;
    if (negative) {
        // -(mag - 1) - 1 stays in range for mag == 2^63.
        return -static_cast<std::int64_t>(mag - 1) - 1;
    }
    return static_cast<std::int64_t>(mag);
}

result<std::string_view> decoder::parse_string() {
    const std::size_t n = in_.size();
    const std::size_t start = pos_;
    std::size_t p = pos_;
    if (in_[p] == '0' && p + 1 < n && is_digit(in_[p + 1])) {
        return fail(bencode_errc::bad_string_length, "string length has a leading zero", p);
    }
    // Bound the length against the limit digit by digit: nothing is allocated before this.
    std::size_t len = 0;
    for (; p < n && is_digit(in_[p]); ++p) {
        const std::size_t d = digit_value(in_[p]);
        // len <= max / 10 makes max - len * 10 non-negative, so neither side can wrap.
        if (len > limits_.max_string_bytes / 10 || d > limits_.max_string_bytes - len * 10) {
            return fail(bencode_errc::string_too_long, "string longer than the string limit",
                        start);
        }
        len = len * 10 + d;
    }
    if (p >= n) {
        return fail(bencode_errc::unexpected_end, "input ends inside a string length", n);
    }
    if (in_[p] != ':') {
        return fail(bencode_errc::bad_string_length, "string length not followed by ':'", p);
    }
    ++p;
    if (len > n - p) {
        return fail(bencode_errc::unexpected_end, "input ends inside a string", n);
    }
    pos_ = p + len;
    return in_.substr(p, len);
}

result<void> decoder::read_key(frame& f) {
    const std::size_t at = pos_;
    if (!is_digit(in_[at])) {
        return fail(bencode_errc::key_not_string, "dict key is not a byte string", at);
    }
    if (auto c = count_element(); !c) {
        return c;
    }
    auto key = parse_string();
    if (!key) {
        return std::unexpected(std::move(key.error()));
    }
    if (f.last) {
        const int cmp = key->compare(*f.last);
        if (cmp == 0) {
            return fail(bencode_errc::duplicate_key, "dict key repeats the previous key", at);
        }
        if (cmp < 0 && !limits_.lenient_key_order) {
            return fail(bencode_errc::unsorted_key, "dict keys are not sorted", at);
        }
        f.unsorted = f.unsorted || cmp < 0;
    }
    if (limits_.lenient_key_order) {
        f.keys.emplace_back(*key, at);
    }
    f.last = *key;
    f.key = std::string(*key);
    return {};
}

result<void> decoder::close_frame(bvalue& out) {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    ++pos_;  // past 'e'
    if (f.unsorted) {
        // Lenient mode: keys arrived out of order, so duplicates need a sort to be found.
        std::stable_sort(f.keys.begin(), f.keys.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 1; i < f.keys.size(); ++i) {
            if (f.keys[i].first == f.keys[i - 1].first) {
                return fail(bencode_errc::duplicate_key, "dict key appears twice",
                            std::max(f.keys[i].second, f.keys[i - 1].second));
            }
        }
    }
    f.value.set_raw(in_.substr(f.begin, pos_ - f.begin));
    out = std::move(f.value);
    return {};
}

bool decoder::deliver(bvalue v, bvalue& root) {
    if (stack_.empty()) {
        root = std::move(v);
        return true;
    }
    frame& top = stack_.back();
    if (top.value.type() == bvalue::kind::list) {
        top.value.push_back(std::move(v));
    } else {
        top.value.insert(std::move(*top.key), std::move(v));
        top.key.reset();
    }
    return false;
}

result<std::optional<bvalue>> decoder::read_scalar() {
    const std::size_t start = pos_;
    bvalue v;
    if (in_[pos_] == 'i') {
        auto i = parse_int();
        if (!i) {
            return std::unexpected(std::move(i.error()));
        }
        v = bvalue(*i);
    } else if (is_digit(in_[pos_])) {
        auto s = parse_string();
        if (!s) {
            return std::unexpected(std::move(s.error()));
        }
        v = bvalue(*s);
    } else {
        return fail(bencode_errc::unexpected_byte, "no value starts with this byte", pos_);
    }
    v.set_raw(in_.substr(start, pos_ - start));
    return v;
}

result<std::optional<bvalue>> decoder::step() {
    const char c = in_[pos_];
    frame* top = stack_.empty() ? nullptr : &stack_.back();
    const bool in_dict = top != nullptr && top->value.type() == bvalue::kind::dict;
    if (c == 'e' && top != nullptr && !(in_dict && top->key)) {
        bvalue v;
        if (auto r = close_frame(v); !r) {
            return std::unexpected(std::move(r.error()));
        }
        return v;
    }
    if (in_dict && !top->key) {
        if (auto r = read_key(*top); !r) {
            return std::unexpected(std::move(r.error()));
        }
        return std::nullopt;
    }
    if (auto r = count_element(); !r) {
        return std::unexpected(std::move(r.error()));
    }
    if (c != 'l' && c != 'd') {
        return read_scalar();
    }
    if (stack_.size() >= max_depth_) {
        return fail(bencode_errc::too_deep, "containers nested too deeply", pos_);
    }
    frame f;
    f.value = c == 'l' ? bvalue::make_list() : bvalue::make_dict();
    f.begin = pos_++;
    stack_.push_back(std::move(f));
    return std::nullopt;
}

result<bvalue> decoder::run() {
    if (in_.size() > limits_.max_input_bytes) {
        return fail(bencode_errc::input_too_large, "input longer than the input limit",
                    limits_.max_input_bytes);
    }
    bvalue root;
    for (;;) {
        if (pos_ >= in_.size()) {
            return fail(bencode_errc::unexpected_end, "input ends inside a value", in_.size());
        }
        auto v = step();
        if (!v) {
            return std::unexpected(std::move(v.error()));
        }
        if (*v && deliver(std::move(**v), root)) {
            break;
        }
    }
    if (pos_ != in_.size()) {
        return fail(bencode_errc::trailing_bytes, "bytes after the top-level value", pos_);
    }
    return root;
}

void encode_string(std::string_view s, std::string& out) {
    out.append(std::to_string(s.size()));
    out.push_back(':');
    out.append(s);
}

void encode_to(const bvalue& v, std::string& out) {
    if (const auto* i = v.as_int()) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, *i);
        out.push_back('i');
        out.append(buf, r.ptr);
        out.push_back('e');
    } else if (const auto* s = v.as_string()) {
        encode_string(*s, out);
    } else if (const auto* l = v.as_list()) {
        out.push_back('l');
        for (const auto& item : *l) {
            encode_to(item, out);
        }
        out.push_back('e');
    } else if (const auto* d = v.as_dict()) {
        std::vector<const bvalue::dict_type::value_type*> entries;
        entries.reserve(d->size());
        for (const auto& e : *d) {
            entries.push_back(&e);
        }
        // Canonical form: keys in raw byte order (char_traits<char> compares as unsigned char).
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto* x, const auto* y) { return x->first < y->first; });
        out.push_back('d');
        for (const auto* e : entries) {
            encode_string(e->first, out);
            encode_to(e->second, out);
        }
        out.push_back('e');
    }
}

}  // namespace

result<bvalue> bdecode(std::string_view input, const bencode_limits& limits) {
    return decoder(input, limits).run();
}

std::string bencode(const bvalue& v) {
    std::string out;
    encode_to(v, out);
    return out;
}

}  // namespace minibit
