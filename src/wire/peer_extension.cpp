#include "minibit/wire/peer_extension.hpp"

#include <limits>
#include <string_view>
#include <utility>

namespace minibit::wire {
namespace {

constexpr auto errc = peer_wire_errc::bad_extension_handshake;

/// Calls f with the value of r, or passes r's error on (g++ 12's expected has no transform).
template <class T, class F>
result<void> then(result<T> r, F&& f) {
    if (!r) {
        return std::unexpected(r.error());
    }
    std::forward<F>(f)(*r);
    return {};
}

/// A bounded reader for the bencode subset the BEP 10 handshake needs; never reads past data_.
class bdecoder {
public:
    bdecoder(std::span<const std::uint8_t> data, const extension_limits& limits)
        : data_(data), limits_(limits) {}

    [[nodiscard]] bool at(char c) const {
        return pos_ < data_.size() && data_[pos_] == static_cast<std::uint8_t>(c);
    }
    [[nodiscard]] bool at_end() const { return pos_ == data_.size(); }
    [[nodiscard]] std::size_t pos() const { return pos_; }
    void advance() { ++pos_; }

    /// Reads "i<digits>e" with a value in [lo, hi].
    result<std::int64_t> integer(std::int64_t lo, std::int64_t hi) {
        const std::size_t start = pos_;
        if (!at('i')) {
            return fail(errc, "expected an integer", pos_);
        }
        ++pos_;
        const bool negative = at('-');
        pos_ += negative ? 1 : 0;
        auto digits = read_digits(18);
        if (!digits || !at('e') || (negative && *digits == 0)) {
            return fail(errc, "malformed integer", start);
        }
        ++pos_;
        const std::int64_t v = negative ? -static_cast<std::int64_t>(*digits)
                                        : static_cast<std::int64_t>(*digits);
        if (v < lo || v > hi) {
            return fail(errc, "integer out of range", start);
        }
        return v;
    }

    /// Reads "<len>:<bytes>" with len <= max_bytes.
    result<std::string_view> string(std::size_t max_bytes) {
        const std::size_t start = pos_;
        auto len = read_digits(10);
        if (!len || !at(':')) {
            return fail(errc, "expected a string", start);
        }
        ++pos_;
        if (*len > max_bytes || *len > data_.size() - pos_) {
            return fail(errc, "string too long", start);
        }
        const std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), *len);
        pos_ += *len;
        return s;
    }

    /// Skips any one value, nested at most limits_.max_depth deep.
    result<void> skip(std::size_t depth) {
        if (depth > limits_.max_depth) {
            return fail(errc, "nesting too deep", pos_);
        }
        if (at('i')) {
            return then(integer(std::numeric_limits<std::int64_t>::min(),
                                std::numeric_limits<std::int64_t>::max()),
                        [](auto) {});
        }
        const bool is_dict = at('d');
        if (!is_dict && !at('l')) {
            return then(string(std::numeric_limits<std::size_t>::max()), [](auto) {});
        }
        ++pos_;
        while (!at('e')) {
            if (is_dict) {
                if (auto k = string(limits_.max_string_bytes); !k) {
                    return std::unexpected(k.error());
                }
            }
            if (auto v = skip(depth + 1); !v) {
                return v;
            }
        }
        ++pos_;
        return {};
    }

private:
    /// Reads 1..max_digits decimal digits without a leading zero.
    std::optional<std::uint64_t> read_digits(std::size_t max_digits) {
        std::uint64_t v = 0;
        std::size_t n = 0;
        while (pos_ < data_.size() && data_[pos_] >= '0' && data_[pos_] <= '9') {
            if (n == max_digits || (n == 1 && v == 0)) {
                return std::nullopt;
            }
            v = v * 10 + (data_[pos_] - std::uint8_t{'0'});
            ++pos_;
            ++n;
        }
        return n == 0 ? std::nullopt : std::optional<std::uint64_t>(v);
    }

    std::span<const std::uint8_t> data_;
    const extension_limits& limits_;
    std::size_t pos_ = 0;
};

result<void> parse_m(bdecoder& d, const extension_limits& limits, extension_handshake& h) {
    if (!d.at('d')) {
        return fail(errc, "m is not a dictionary", d.pos());
    }
    d.advance();
    while (!d.at('e')) {
        auto name = d.string(limits.max_string_bytes);
        if (!name) {
            return std::unexpected(name.error());
        }
        auto id = d.integer(0, 255);
        if (!id) {
            return std::unexpected(id.error());
        }
        if (h.m.size() == limits.max_m_entries) {
            return fail(errc, "too many extensions in m", d.pos());
        }
        h.m.insert_or_assign(std::string(*name), static_cast<std::uint8_t>(*id));
    }
    d.advance();
    return {};
}

result<void> parse_key(std::string_view key, bdecoder& d, const extension_limits& limits,
                       extension_handshake& h) {
    constexpr std::int64_t int_max = std::numeric_limits<std::int64_t>::max();
    if (key == "m") {
        return parse_m(d, limits, h);
    }
    if (key == "v") {
        return then(d.string(limits.max_string_bytes), [&](auto s) { h.v = std::string(s); });
    }
    if (key == "p") {
        return then(d.integer(0, 65535), [&](auto v) { h.p = static_cast<std::uint16_t>(v); });
    }
    if (key == "reqq") {
        return then(d.integer(0, std::numeric_limits<std::uint32_t>::max()),
                    [&](auto v) { h.reqq = static_cast<std::uint32_t>(v); });
    }
    if (key == "metadata_size") {
        return then(d.integer(0, int_max),
                    [&](auto v) { h.metadata_size = static_cast<std::uint64_t>(v); });
    }
    return d.skip(1);
}

void put_string(std::string& out, std::string_view s) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
}

void put_int(std::string& out, std::uint64_t v) {
    out += 'i';
    out += std::to_string(v);
    out += 'e';
}

}  // namespace

std::string encode_extension_handshake(const extension_handshake& h) {
    std::string out = "d1:md";
    for (const auto& [name, id] : h.m) {
        put_string(out, name);
        put_int(out, id);
    }
    out += 'e';
    if (h.metadata_size) {
        put_string(out, "metadata_size");
        put_int(out, *h.metadata_size);
    }
    if (h.p) {
        put_string(out, "p");
        put_int(out, *h.p);
    }
    if (h.reqq) {
        put_string(out, "reqq");
        put_int(out, *h.reqq);
    }
    if (h.v) {
        put_string(out, "v");
        put_string(out, *h.v);
    }
    out += 'e';
    return out;
}

result<extension_handshake> parse_extension_handshake(std::span<const std::uint8_t> payload,
                                                      extension_limits limits) {
    bdecoder d(payload, limits);
    if (!d.at('d')) {
        return fail(errc, "handshake is not a dictionary", 0);
    }
    d.advance();
    extension_handshake h;
    while (!d.at('e')) {
        auto key = d.string(limits.max_string_bytes);
        if (!key) {
            return std::unexpected(key.error());
        }
        if (auto ok = parse_key(*key, d, limits, h); !ok) {
            return std::unexpected(ok.error());
        }
    }
    d.advance();
    if (!d.at_end()) {
        return fail(errc, "bytes after the dictionary", d.pos());
    }
    return h;
}

}  // namespace minibit::wire
