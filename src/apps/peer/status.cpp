#include "status.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "minibit/core/human_units.hpp"

namespace minibit::apps {

status_printer::status_printer(std::FILE* out, bool seed_mode)
    : out_(out), tty_(::isatty(::fileno(out)) == 1), seed_mode_(seed_mode) {}

void status_printer::on_tracker(const swarm::tracker_status& status) {
    {
        const std::lock_guard lock(mutex_);
        trackers_[status.url] = status;
    }
    std::string text;
    switch (status.health) {
    case swarm::tracker_health::failing:
        text = fmt::format("tracker {} failed: {}", status.url, status.reason);
        break;
    case swarm::tracker_health::silent:
        text = fmt::format("tracker {}: {}", status.url, status.reason);
        break;
    case swarm::tracker_health::ok:
        // The first answer is news only after a failure; the status line shows the rest.
        if (status.previous != swarm::tracker_health::failing &&
            status.previous != swarm::tracker_health::silent) {
            return;
        }
        text = fmt::format("tracker {} answers again ({} peers)", status.url, status.peers);
        break;
    case swarm::tracker_health::unknown: return;
    }
    // On a terminal, clear the progress line first; it is redrawn on the next tick.
    fmt::print(out_, "{}minibit-peer: {}\n", tty_ ? "\r\033[K" : "", text);
    std::fflush(out_);
}

std::string status_printer::tracker_problems() const {
    const std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [url, st] : trackers_) {
        if (st.health != swarm::tracker_health::failing &&
            st.health != swarm::tracker_health::silent) {
            continue;
        }
        if (!out.empty()) out += "; ";
        out += fmt::format("tracker {}: {}", url, st.reason);
    }
    return out;
}

std::string status_printer::tracker_word() const {
    const std::lock_guard lock(mutex_);
    if (trackers_.empty()) return "";
    std::size_t ok = 0;
    std::size_t bad = 0;
    for (const auto& [url, st] : trackers_) {
        if (st.health == swarm::tracker_health::ok) ++ok;
        if (st.health == swarm::tracker_health::failing ||
            st.health == swarm::tracker_health::silent) {
            ++bad;
        }
    }
    if (bad == 0) return "tracker ok";
    if (ok == 0) return trackers_.size() == 1 ? "tracker failing" : "trackers failing";
    return fmt::format("trackers {} ok, {} failing", ok, bad);
}

std::string status_printer::line(const progress_sample& sample) const {
    const auto& s = sample.stats;
    const double pct = s.piece_count == 0 ? 100.0 : 100.0 * s.pieces_have / s.piece_count;
    std::string text = fmt::format("{:5.1f}%  down {}  up {}  peers {} ({} unchoking us)", pct,
                                   format_rate(s.download_rate), format_rate(s.upload_rate),
                                   s.peers_connected, s.peers_unchoking_us);
    if (const auto word = tracker_word(); !word.empty()) text += "  " + word;
    if (!seed_mode_) {
        std::string eta = "--";
        if (sample.bytes_left == 0) {
            eta = "done";
        } else if (s.download_rate > 1) {
            eta = fmt::format("{:.0f}s", static_cast<double>(sample.bytes_left) / s.download_rate);
        }
        text += "  eta " + eta;
    }
    return text;
}

void status_printer::tick(const progress_sample& sample) {
    const auto now = clock::now();
    if (tty_) {
        if (drawn_ && now - last_print_ < std::chrono::seconds(1)) return;
        fmt::print(out_, "\r\033[K{}", line(sample));
        drawn_ = true;
    } else {
        if (last_print_ != clock::time_point{} && now - last_print_ < status_line_interval) return;
        if (last_print_ == clock::time_point{}) {  // the first line waits a full interval too
            last_print_ = now;
            return;
        }
        fmt::print(out_, "minibit-peer: {}  {:.0f} s\n", line(sample), sample.seconds);
    }
    std::fflush(out_);
    last_print_ = now;
}

void status_printer::finish(const progress_sample& sample, std::string_view outcome) {
    const auto& s = sample.stats;
    const double secs = std::max(sample.seconds, 0.001);
    const std::uint64_t moved = seed_mode_ ? s.payload_bytes_up : s.payload_bytes_down;
    if (tty_ && drawn_) fmt::print(out_, "\r\033[K");
    fmt::print(out_,
               "minibit-peer: {} {}: {} ({} bytes) {} in {:.1f} s ({} average), {} peers "
               "connected ({} connections in all), {}/{} pieces verified\n",
               seed_mode_ ? "seed" : "get", outcome, format_bytes(moved), moved,
               seed_mode_ ? "uploaded" : "downloaded", secs,
               format_rate(static_cast<double>(moved) / secs), s.peers_connected,
               s.connections_in + s.connections_out, s.pieces_have, s.piece_count);
    std::fflush(out_);
}

}  // namespace minibit::apps
