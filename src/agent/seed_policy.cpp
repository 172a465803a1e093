#include "minibit/agent/seed_policy.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace minibit::agent {

std::optional<std::string> goal_reached(const seed_policy& policy, const seed_progress& progress) {
    if (policy.seconds && progress.seeded_seconds >= *policy.seconds) {
        return fmt::format("seeded {} s (goal {} s)", progress.seeded_seconds, *policy.seconds);
    }
    if (policy.ratio && progress.size > 0) {
        const double ratio = double(progress.uploaded) / double(progress.size);
        if (ratio >= *policy.ratio) {
            return fmt::format("ratio {:.2f} reached (goal {})", ratio, *policy.ratio);
        }
    }
    if (policy.min_seeders && progress.seeders && *progress.seeders >= *policy.min_seeders) {
        return fmt::format("the tracker counts {} seeders (goal {})", *progress.seeders,
                           *policy.min_seeders);
    }
    return std::nullopt;
}

std::string seed_policy_json(const seed_policy& policy) {
    nlohmann::json j = nlohmann::json::object();
    if (policy.seconds) j["seconds"] = *policy.seconds;
    if (policy.ratio) j["ratio"] = *policy.ratio;
    if (policy.min_seeders) j["min_seeders"] = *policy.min_seeders;
    return j.dump();
}

namespace {

/// A whole number >= 1 and <= max.
bool whole(const nlohmann::json& v, std::uint64_t max) {
    return v.is_number_unsigned() && v.get<std::uint64_t>() >= 1 && v.get<std::uint64_t>() <= max;
}

}  // namespace

std::optional<seed_policy> parse_seed_policy(const std::string& json_text, std::string& why) {
    const auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        why = "'seed' must be an object such as {\"ratio\": 2}";
        return std::nullopt;
    }
    seed_policy p;
    for (const auto& [key, value] : j.items()) {
        if (key == "seconds") {
            if (!whole(value, std::uint64_t{1} << 40U)) {
                why = "'seed.seconds' must be a whole number of seconds, 1 or more";
                return std::nullopt;
            }
            p.seconds = value.get<std::uint64_t>();
        } else if (key == "ratio") {
            if (!value.is_number() || value.get<double>() <= 0.0 || value.get<double>() > 1e6) {
                why = "'seed.ratio' must be a number above 0 (uploaded / size)";
                return std::nullopt;
            }
            p.ratio = value.get<double>();
        } else if (key == "min_seeders") {
            if (!whole(value, 1U << 20U)) {
                why = "'seed.min_seeders' must be a whole number, 1 or more";
                return std::nullopt;
            }
            p.min_seeders = static_cast<std::uint32_t>(value.get<std::uint64_t>());
        } else {
            why = fmt::format("unknown field 'seed.{}' (use seconds, ratio, min_seeders)", key);
            return std::nullopt;
        }
    }
    return p;
}

}  // namespace minibit::agent
