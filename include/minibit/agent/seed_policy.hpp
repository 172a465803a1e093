// When a complete torrent of the agent stops seeding: never (seed until removed, the agent's
// default), after a time, at an upload ratio (uploaded / size), or once the tracker's scrape
// shows at least K seeders; with several goals, the first one met. The API's "seed" object,
// the state folder and the agent's defaults (--seed-seconds, --seed-ratio, --seed-min-seeders)
// all hold this. Value type; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace minibit::agent {

/// A torrent's seeding goal; no field set: seed until removed.
struct seed_policy {
    std::optional<std::uint64_t> seconds;      ///< seeding time, counted while complete
    std::optional<double> ratio;               ///< bytes uploaded / torrent size
    std::optional<std::uint32_t> min_seeders;  ///< seeders in the tracker's scrape
    [[nodiscard]] bool forever() const { return !seconds && !ratio && !min_seeders; }
    bool operator==(const seed_policy&) const = default;
};

/// What a seeding torrent has done so far, for goal_reached().
struct seed_progress {
    std::uint64_t seeded_seconds = 0;
    std::uint64_t uploaded = 0;  ///< payload bytes, every run
    std::uint64_t size = 0;
    std::optional<std::uint32_t> seeders;  ///< the last scrape's, if any answered
};

/// Why seeding ends now ("ratio 1.02 reached (goal 1)"), or nullopt to keep seeding.
[[nodiscard]] std::optional<std::string> goal_reached(const seed_policy& policy,
                                                      const seed_progress& progress);

/// The policy as JSON text ({} for forever), e.g. {"ratio":2.0}.
[[nodiscard]] std::string seed_policy_json(const seed_policy& policy);

/// Reads a policy from JSON text: an object with only "seconds" (whole number >= 1), "ratio"
/// (number > 0) and "min_seeders" (whole number >= 1); a message when anything else is there.
[[nodiscard]] std::optional<seed_policy> parse_seed_policy(const std::string& json_text,
                                                           std::string& why);

}  // namespace minibit::agent
