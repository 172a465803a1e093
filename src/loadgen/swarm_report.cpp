#include "swarm_report.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "minibit/core/human_units.hpp"

namespace minibit::loadgen {
namespace {

std::string opt_number(const std::optional<double>& v, int decimals) {
    return v ? fmt::format("{:.{}f}", *v, decimals) : std::string("-");
}

std::string peer_row(const peer_report& p) {
    const auto& c = p.counters;
    auto field = [&c](auto member) {
        return c ? fmt::format("{}", (*c).*member) : std::string("-");
    };
    return fmt::format(
        "{:>4}  {:<7}  {:>5}  {:<9}  {:>8}  {:>9}  {:>9}  {:>5}  {:>10}  {:>10}  {}\n", p.index,
        name_of(p.role), p.start_pieces, name_of(p.outcome), opt_number(p.seconds_to_complete, 3),
        field(&peer_counters::messages_sent), field(&peer_counters::messages_received),
        field(&peer_counters::connections), field(&peer_counters::bytes_up),
        field(&peer_counters::bytes_down), p.exit);
}

std::string opt_rate(const std::optional<double>& bytes_per_second) {
    return bytes_per_second ? format_rate(*bytes_per_second) : std::string("-");
}

// Download rates in human units: each rebuilt peer's (bytes down over its time to rebuild) and
// the whole swarm's (every byte received over the time from start to the last completion).
std::string rate_lines(const swarm_report& r) {
    std::vector<double> rates;
    std::uint64_t received = 0;
    for (const auto& p : r.peers) {
        if (!p.counters) continue;
        received += p.counters->bytes_down;
        if (p.outcome == peer_outcome::rebuilt && p.seconds_to_complete &&
            *p.seconds_to_complete > 0)
            rates.push_back(static_cast<double>(p.counters->bytes_down) / *p.seconds_to_complete);
    }
    const spread s = spread_of(rates);
    std::string out = fmt::format("download rate per peer:  min {}  median {}  max {}\n",
                                  opt_rate(s.min), opt_rate(s.median), opt_rate(s.max));
    const auto secs = r.figures.swarm_seconds;
    if (received > 0 && secs && *secs > 0) {
        out += fmt::format("swarm throughput: {} received in {:.3f} s ({})\n",
                           format_bytes(received), *secs,
                           format_rate(static_cast<double>(received) / *secs));
    }
    return out;
}

// The fluid-model bound and the run's ratio to it, or why there is none.
std::string bound_line(const swarm_report& r) {
    const auto b = r.bound();
    if (!b) {
        return "fluid-model bound: none (no --uplink-rate: loopback has no link rate to bound "
               "the time by)\n";
    }
    const auto ratio = r.bound_ratio();
    return fmt::format(
        "fluid-model bound: {:.3f} s ({}); last completion {} = {} the bound\n"
        "  assumes {}\n",
        b->seconds, b->binding, opt_number(r.figures.swarm_seconds, 3) + " s",
        ratio ? fmt::format("{:.2f}x", *ratio) : std::string("- (run failed)"), b->assumes);
}

}  // namespace

std::string_view name_of(start_mode m) {
    return m == start_mode::seed ? "seed" : "scatter";
}

std::string_view name_of(peer_role r) {
    return r == peer_role::seeder ? "seeder" : "leecher";
}

std::string_view name_of(peer_outcome o) {
    switch (o) {
    case peer_outcome::rebuilt: return "rebuilt";
    case peer_outcome::corrupt: return "corrupt";
    case peer_outcome::failed: return "failed";
    case peer_outcome::killed: return "killed";
    case peer_outcome::timed_out: return "timed_out";
    case peer_outcome::stopped: return "stopped";
    case peer_outcome::seeded: return "seeded";
    }
    return "unknown";
}

std::uint32_t swarm_report::expected() const {
    return static_cast<std::uint32_t>(std::count_if(peers.begin(), peers.end(), [](const auto& p) {
        return p.role == peer_role::leecher && p.outcome != peer_outcome::killed;
    }));
}

std::uint32_t swarm_report::rebuilt() const {
    return static_cast<std::uint32_t>(std::count_if(peers.begin(), peers.end(), [](const auto& p) {
        return p.outcome == peer_outcome::rebuilt;
    }));
}

bool swarm_report::success() const {
    const bool seeders_ok = std::all_of(peers.begin(), peers.end(), [](const auto& p) {
        return p.role != peer_role::seeder || p.outcome == peer_outcome::seeded;
    });
    return failure.empty() && !timed_out && stop_signal == 0 && seeders_ok && expected() > 0 &&
           rebuilt() == expected();
}

std::optional<double> swarm_report::seed_upload_copies() const {
    std::optional<double> copies;
    for (const auto& p : peers) {
        if (p.role != peer_role::seeder || !p.counters || file_bytes == 0) continue;
        copies = copies.value_or(0) +
                 static_cast<double>(p.counters->bytes_up) / static_cast<double>(file_bytes);
    }
    return copies;
}

std::optional<fluid_bound> swarm_report::bound() const {
    if (uplink_rate == 0 || file_bytes == 0 || peers.empty()) return std::nullopt;
    const auto f = static_cast<double>(file_bytes);
    const auto u = static_cast<double>(uplink_rate);
    fluid_bound b;
    b.assumes = fmt::format(
        "every peer's payload upload capped at {} (--uplink-rate), downloads, CPU and "
        "loopback unlimited, no protocol overhead",
        format_rate(static_cast<double>(uplink_rate)));
    if (mode == start_mode::seed) {
        // The seeder must send one copy; all uplinks together one copy per leecher.
        const auto n = static_cast<double>(peers.size() - 1);
        const double seeder = f / u;
        const double total = n * f / (u + n * u);
        b.seconds = std::max(seeder, total);
        b.binding = seeder >= total ? "seeder uplink" : "total uplink";
        return b;
    }
    // Scatter: every peer lacks what the others hold, all uplinks share that work, and each
    // holder's own pieces (it alone has them) must leave its uplink at least once.
    double missing = 0;
    double largest = 0;
    for (const auto& p : peers) {
        const double held = std::min(
            f, static_cast<double>(p.start_pieces) * static_cast<double>(piece_length));
        missing += f - held;
        largest = std::max(largest, held);
    }
    const double total = missing / (u * static_cast<double>(peers.size()));
    const double unique = largest / u;
    b.seconds = std::max(total, unique);
    b.binding = total >= unique ? "total uplink" : "unique pieces";
    return b;
}

std::optional<double> swarm_report::bound_ratio() const {
    const auto b = bound();
    const auto secs = figures.swarm_seconds;
    if (!b || !secs || b->seconds <= 0 || !success()) return std::nullopt;
    return *secs / b->seconds;
}

std::uint32_t swarm_report::killed() const {
    return static_cast<std::uint32_t>(std::count_if(peers.begin(), peers.end(), [](const auto& p) {
        return p.outcome == peer_outcome::killed;
    }));
}

std::string swarm_report::summary_line() const {
    std::string line = fmt::format("{}/{} files rebuilt and identical", rebuilt(), expected());
    const auto done = killed();
    if (done > 0) line += fmt::format(" ({} peer{} killed on purpose)", done, done == 1 ? "" : "s");
    if (done < kills_requested) {
        line += fmt::format(
            " ({} of {} kills not done: no peer was mid-transfer with its pieces held elsewhere)",
            kills_requested - done, kills_requested);
    }
    return line;
}

swarm_summary summarize(const swarm_report& r) {
    std::vector<double> secs, sent, recv;
    for (const auto& p : r.peers) {
        if (p.outcome != peer_outcome::rebuilt) continue;
        if (p.seconds_to_complete) secs.push_back(*p.seconds_to_complete);
        if (p.counters) {
            sent.push_back(static_cast<double>(p.counters->messages_sent));
            recv.push_back(static_cast<double>(p.counters->messages_received));
        }
    }
    return {spread_of(secs), spread_of(sent), spread_of(recv)};
}

spread spread_of(std::vector<double> values) {
    if (values.empty()) return {};
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return {values.front(), median, values.back()};
}

std::optional<double> transfer_seconds(const run_phases& ph) {
    if (!ph.peers_started || !ph.all_complete) return std::nullopt;
    return *ph.all_complete - *ph.peers_started;
}

std::string format_phases(const swarm_report& r) {
    const auto& ph = r.phases;
    const auto at = [](const std::optional<double>& v) { return opt_number(v, 3); };
    std::string out = fmt::format(
        "phases (s from start): tracker ready {}, peers started {}, first block {}, all complete "
        "{} (transfer {}), peers stopped {}, copies checked {}",
        at(ph.tracker_ready), at(ph.peers_started), at(ph.first_block), at(ph.all_complete),
        at(transfer_seconds(ph)), at(ph.peers_stopped), at(ph.copies_checked));
    if (ph.folders_removed) {
        out += fmt::format(", folders removed {}{}", at(ph.folders_removed),
                           r.removal_detached ? " (deleted in the background)" : "");
    }
    return out + "\n";
}

std::string format_table(const swarm_report& r) {
    std::string out = fmt::format(
        "swarm: mode {}, {} peers, {} bytes ({}) in {} pieces of {} bytes, numwant {}\n",
        name_of(r.mode), r.peers.size(), r.file_bytes, format_bytes(r.file_bytes), r.piece_count,
        r.piece_length, r.numwant);
    out += fmt::format(
        "{:>4}  {:<7}  {:>5}  {:<9}  {:>8}  {:>9}  {:>9}  {:>5}  {:>10}  {:>10}  {}\n", "peer",
        "role", "start", "result", "time_s", "msgs_sent", "msgs_recv", "conns", "bytes_up",
        "bytes_down", "exit");
    for (const auto& p : r.peers) out += peer_row(p);
    const swarm_summary s = summarize(r);
    out += fmt::format("time to rebuild (s):     min {}  median {}  max {}\n",
                       opt_number(s.seconds.min, 3), opt_number(s.seconds.median, 3),
                       opt_number(s.seconds.max, 3));
    out += fmt::format("messages sent per peer:  min {}  median {}  max {}\n",
                       opt_number(s.sent.min, 0), opt_number(s.sent.median, 1),
                       opt_number(s.sent.max, 0));
    out += fmt::format("messages recv per peer:  min {}  median {}  max {}\n",
                       opt_number(s.received.min, 0), opt_number(s.received.median, 1),
                       opt_number(s.received.max, 0));
    out += rate_lines(r);
    out += fmt::format("wall time: {:.3f} s (all complete at {} s)\n", r.wall_seconds,
                       opt_number(r.phases.all_complete, 3));
    out += bound_line(r);
    out += format_phases(r);
    out += format_figures_table(r.figures);
    if (const auto copies = r.seed_upload_copies()) {
        out += fmt::format("seeder upload: {:.3f} copies of the file{}\n", *copies,
                           r.origin ? " (--origin)" : "");
    }
    out += r.summary_line() + "\n";
    return out;
}

}  // namespace minibit::loadgen
