#include "flags.hpp"

#include <fmt/format.h>
#include <charconv>
#include <cmath>

namespace minibit::apps {

flags::flags(int argc, char** argv, int first, const std::set<std::string, std::less<>>& valued,
             const std::set<std::string, std::less<>>& switches) {
    bool only_positional = false;
    for (int i = first; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (only_positional || !arg.starts_with("--")) {
            positional_.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        std::string_view name = arg.substr(2);
        std::optional<std::string> inline_value;
        if (const auto eq = name.find('='); eq != std::string_view::npos) {
            inline_value = std::string(name.substr(eq + 1));
            name = name.substr(0, eq);
        }
        if (switches.contains(name)) {
            if (inline_value) throw usage_error(fmt::format("--{} takes no value", name));
            values_.emplace(std::string(name), "");
        } else if (valued.contains(name)) {
            if (!inline_value) {
                if (i + 1 >= argc) throw usage_error(fmt::format("--{} needs a value", name));
                inline_value = argv[++i];
            }
            values_.emplace(std::string(name), *inline_value);
        } else {
            throw usage_error(fmt::format("unknown flag --{}", name));
        }
    }
}

bool flags::has(std::string_view name) const {
    return values_.find(name) != values_.end();
}

std::optional<std::string> flags::get(std::string_view name) const {
    auto [lo, hi] = values_.equal_range(name);
    if (lo == hi) return std::nullopt;
    return std::prev(hi)->second;
}

std::vector<std::string> flags::all(std::string_view name) const {
    std::vector<std::string> out;
    auto [lo, hi] = values_.equal_range(name);
    for (auto it = lo; it != hi; ++it) out.push_back(it->second);
    return out;
}

std::uint64_t parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max,
                         std::string_view what) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
        throw usage_error(fmt::format("{}: '{}' is not a whole number", what, text));
    }
    if (v < min || v > max) {
        throw usage_error(fmt::format("{}: {} is outside {}..{}", what, v, min, max));
    }
    return v;
}

std::optional<std::uint64_t> flags::get_uint(std::string_view name, std::uint64_t min,
                                             std::uint64_t max) const {
    const auto v = get(name);
    if (!v) return std::nullopt;
    return parse_uint(*v, min, max, fmt::format("--{}", name));
}

std::optional<double> flags::get_seconds(std::string_view name) const {
    const auto v = get(name);
    if (!v) return std::nullopt;
    double secs = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
    if (ec != std::errc{} || end != v->data() + v->size() || !std::isfinite(secs) || secs < 0) {
        throw usage_error(fmt::format("--{}: '{}' is not a number of seconds", name, *v));
    }
    return secs;
}

}  // namespace minibit::apps
