#include "minibit/loadgen/json_reader.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace minibit::loadgen {
namespace {

// Recursive-descent parser over a bounded string_view; every read checks pos_ < text_.size().
class parser {
public:
    parser(std::string_view text, const json_limits& limits) : text_(text), limits_(limits) {}

    result<json_value> document() {
        auto v = value(0);
        if (!v) return v;
        skip_space();
        if (pos_ != text_.size()) return bad("trailing bytes after the document");
        return v;
    }

private:
    std::unexpected<error> bad(std::string reason) const {
        return fail(loadgen_errc::bad_json, std::move(reason), pos_);
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\t')) {
            ++pos_;
        }
    }

    bool literal(std::string_view word) {
        if (text_.substr(pos_).starts_with(word)) {
            pos_ += word.size();
            return true;
        }
        return false;
    }

    result<json_value> value(std::size_t depth) {
        if (depth > limits_.max_depth) return bad("nested too deeply");
        skip_space();
        if (pos_ >= text_.size()) return bad("unexpected end of input");
        const char c = text_[pos_];
        if (c == '{') return object_value(depth);
        if (c == '[') return array_value(depth);
        if (c == '"') {
            auto s = string_value();
            if (!s) return std::unexpected(s.error());
            return json_value{std::move(*s)};
        }
        if (literal("true")) return json_value{true};
        if (literal("false")) return json_value{false};
        if (literal("null")) return json_value{nullptr};
        return number_value();
    }

    result<json_value> number_value() {
        const char* first = text_.data() + pos_;
        const char* last = text_.data() + text_.size();
        double v = 0;
        const auto [end, ec] = std::from_chars(first, last, v);
        if (ec != std::errc{} || end == first || !std::isfinite(v)) return bad("expected a value");
        pos_ += static_cast<std::size_t>(end - first);
        return json_value{v};
    }

    result<std::string> string_value() {
        ++pos_;  // opening quote
        std::string out;
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ >= text_.size()) break;
            const char e = text_[pos_++];
            switch (e) {
                case 'n': out.push_back('\n'); break;
                case 't': out.push_back('\t'); break;
                case 'r': out.push_back('\r'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'u':  // kept as '?': the stats files use ASCII keys
                    if (text_.size() - pos_ < 4) return bad("short \\u escape");
                    pos_ += 4;
                    out.push_back('?');
                    break;
                default: out.push_back(e); break;
            }
        }
        return bad("unterminated string");
    }

    result<json_value> array_value(std::size_t depth) {
        ++pos_;
        json_value::array items;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ']') {
            ++pos_;
            return json_value{std::move(items)};
        }
        while (true) {
            auto v = value(depth + 1);
            if (!v) return v;
            items.push_back(std::move(*v));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == ']') {
                ++pos_;
                return json_value{std::move(items)};
            }
            return bad("expected ',' or ']'");
        }
    }

    result<json_value> object_value(std::size_t depth) {
        ++pos_;
        json_value::object members;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '}') {
            ++pos_;
            return json_value{std::move(members)};
        }
        while (true) {
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != '"') return bad("expected a key");
            auto key = string_value();
            if (!key) return std::unexpected(key.error());
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != ':') return bad("expected ':'");
            ++pos_;
            auto v = value(depth + 1);
            if (!v) return v;
            members.emplace_back(std::move(*key), std::move(*v));
            skip_space();
            if (pos_ < text_.size() && text_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < text_.size() && text_[pos_] == '}') {
                ++pos_;
                return json_value{std::move(members)};
            }
            return bad("expected ',' or '}'");
        }
    }

    std::string_view text_;
    json_limits limits_;
    std::size_t pos_ = 0;
};

}  // namespace

const json_value* json_value::find(std::string_view key) const {
    const auto* obj = members();
    if (obj == nullptr) return nullptr;
    for (const auto& [k, v] : *obj) {
        if (k == key) return &v;
    }
    return nullptr;
}

const json_value* json_value::at_path(std::string_view dotted) const {
    const json_value* cur = this;
    while (cur != nullptr) {
        const auto dot = dotted.find('.');
        cur = cur->find(dotted.substr(0, dot));
        if (dot == std::string_view::npos) break;
        dotted.remove_prefix(dot + 1);
    }
    return cur;
}

std::optional<double> json_value::number() const {
    if (const auto* d = std::get_if<double>(&data)) return *d;
    return std::nullopt;
}

result<json_value> parse_json(std::string_view text, const json_limits& limits) {
    if (text.size() > limits.max_bytes) {
        return fail(loadgen_errc::bad_json, fmt::format("larger than {} bytes", limits.max_bytes));
    }
    return parser(text, limits).document();
}

std::string json_quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
    return out;
}

}  // namespace minibit::loadgen
