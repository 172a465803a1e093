// What get and seed tell the user on stderr while they run: one line per change of a tracker's
// health (failed and why, silent, answering again), a progress line redrawn in place on a
// terminal or, on a pipe or under journald, a status line every few seconds, and always one
// summary line at the end. on_tracker() may be called from any thread; the rest from the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "minibit/swarm/torrent_stats.hpp"
#include "minibit/swarm/tracker_client.hpp"

namespace minibit::apps {

/// The numbers a status line shows.
struct progress_sample {
    swarm::torrent_stats stats;
    std::uint64_t bytes_left = 0;
    double seconds = 0.0;  ///< since the command started
};

/// Prints tracker changes, progress and the end summary.
class status_printer {
public:
    using clock = std::chrono::steady_clock;

    /// Writes to `out`; draws a redrawn progress line when `out` is a terminal.
    explicit status_printer(std::FILE* out, bool seed_mode);

    /// A tracker URL's health changed: one line (failures and recoveries); any thread.
    void on_tracker(const swarm::tracker_status& status);
    /// Draws the progress line (terminal, every second) or prints a status line (every 5 s).
    void tick(const progress_sample& sample);
    /// The summary line: outcome ("complete", "timed out", "interrupted", ...), bytes, time,
    /// average rate, peers and verified pieces.
    void finish(const progress_sample& sample, std::string_view outcome);
    /// "tracker URL: reason" for every URL that is failing or silent, ""; any thread.
    [[nodiscard]] std::string tracker_problems() const;

private:
    [[nodiscard]] std::string tracker_word() const;
    [[nodiscard]] std::string line(const progress_sample& sample) const;

    std::FILE* out_;
    bool tty_;
    bool seed_mode_;
    bool drawn_ = false;  ///< a progress line is on screen without its newline
    clock::time_point last_print_{};
    mutable std::mutex mutex_;                               ///< guards trackers_
    std::map<std::string, swarm::tracker_status> trackers_;  ///< by URL, last change
};

/// How long between status lines when stderr is not a terminal.
inline constexpr auto status_line_interval = std::chrono::seconds(5);

}  // namespace minibit::apps
