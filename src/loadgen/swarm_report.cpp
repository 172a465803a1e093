#include "swarm_report.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace minibit::loadgen {
namespace {

std::string opt_number(const std::optional<double>& v, int decimals) {
    return v ? fmt::format("{:.{}f}", *v, decimals) : std::string("-");
}

std::string json_number(const std::optional<double>& v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("null");
}

std::string json_spread(const spread& s) {
    return fmt::format("{{\"min\":{},\"median\":{},\"max\":{}}}", json_number(s.min),
                       json_number(s.median), json_number(s.max));
}

std::uint32_t killed_count(const swarm_report& r) {
    return static_cast<std::uint32_t>(
        std::count_if(r.peers.begin(), r.peers.end(),
                      [](const auto& p) { return p.outcome == peer_outcome::killed; }));
}

// Times and message counts over the peers that rebuilt the file.
struct summary {
    spread seconds, sent, received;
};

summary summarize(const swarm_report& r) {
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

std::string success_line(const swarm_report& r) {
    std::string line = fmt::format("{}/{} files rebuilt and identical", r.rebuilt(), r.expected());
    const auto killed = killed_count(r);
    if (killed > 0)
        line += fmt::format(" ({} peer{} killed on purpose)", killed, killed == 1 ? "" : "s");
    if (killed < r.kills_requested) {
        line += fmt::format(
            " ({} of {} kills not done: no peer was mid-transfer with its pieces held elsewhere)",
            r.kills_requested - killed, r.kills_requested);
    }
    return line;
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

std::string peer_json(const peer_report& p) {
    std::string out = fmt::format(
        "{{\"index\":{},\"role\":\"{}\",\"port\":{},\"start_pieces\":{},\"result\":\"{}\","
        "\"exit\":{},\"seconds_to_complete\":{}",
        p.index, name_of(p.role), p.port, p.start_pieces, name_of(p.outcome), json_quote(p.exit),
        json_number(p.seconds_to_complete));
    if (p.counters) {
        const auto& c = *p.counters;
        out += fmt::format(
            ",\"messages_sent\":{},\"messages_received\":{},\"connections\":{},"
            "\"bytes_up\":{},\"bytes_down\":{},\"wire_bytes_up\":{},"
            "\"wire_bytes_down\":{}",
            c.messages_sent, c.messages_received, c.connections, c.bytes_up, c.bytes_down,
            c.wire_bytes_up, c.wire_bytes_down);
    }
    return out + "}";
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

spread spread_of(std::vector<double> values) {
    if (values.empty()) return {};
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return {values.front(), median, values.back()};
}

namespace {

std::string phases_json(const run_phases& ph) {
    return fmt::format(
        "{{\"tracker_ready\":{},\"torrent_made\":{},\"peers_prepared\":{},\"peers_started\":{},"
        "\"all_complete\":{},\"peers_stopped\":{},\"copies_checked\":{}}}",
        json_number(ph.tracker_ready), json_number(ph.torrent_made),
        json_number(ph.peers_prepared), json_number(ph.peers_started),
        json_number(ph.all_complete), json_number(ph.peers_stopped),
        json_number(ph.copies_checked));
}

}  // namespace

std::string format_table(const swarm_report& r) {
    std::string out = fmt::format(
        "swarm: mode {}, {} peers, {} bytes in {} pieces of {} bytes, numwant {}\n",
        name_of(r.mode), r.peers.size(), r.file_bytes, r.piece_count, r.piece_length, r.numwant);
    out +=
        fmt::format("{:>4}  {:<7}  {:>5}  {:<9}  {:>8}  {:>9}  {:>9}  {:>5}  {:>10}  {:>10}  {}\n",
                    "peer", "role", "start", "result", "time_s", "msgs_sent", "msgs_recv", "conns",
                    "bytes_up", "bytes_down", "exit");
    for (const auto& p : r.peers) out += peer_row(p);
    const summary s = summarize(r);
    out += fmt::format("time to rebuild (s):     min {}  median {}  max {}\n",
                       opt_number(s.seconds.min, 3), opt_number(s.seconds.median, 3),
                       opt_number(s.seconds.max, 3));
    out += fmt::format("messages sent per peer:  min {}  median {}  max {}\n",
                       opt_number(s.sent.min, 0), opt_number(s.sent.median, 1),
                       opt_number(s.sent.max, 0));
    out += fmt::format("messages recv per peer:  min {}  median {}  max {}\n",
                       opt_number(s.received.min, 0), opt_number(s.received.median, 1),
                       opt_number(s.received.max, 0));
    out += fmt::format("wall time: {:.3f} s (all complete at {} s)\n", r.wall_seconds,
                       opt_number(r.phases.all_complete, 3));
    out += format_figures_table(r.figures);
    out += success_line(r) + "\n";
    return out;
}

std::string format_json(const swarm_report& r) {
    const summary s = summarize(r);
    std::string peers;
    for (const auto& p : r.peers) peers += (peers.empty() ? "" : ",") + peer_json(p);
    return fmt::format(
        "{{\"mode\":\"{}\",\"tracker_port\":{},\"file_bytes\":{},\"piece_count\":{},\"piece_"
        "length\":{},\"numwant\":{},"
        "\"peers_total\":{},\"expected\":{},\"rebuilt\":{},\"kills_requested\":{},\"killed\":{},"
        "\"success\":{},"
        "\"timed_out\":{},\"stop_signal\":{},\"failure\":{},\"wall_seconds\":{:.3f},"
        "\"phases\":{},\"summary\":{},\"seconds_to_complete\":{},\"messages_sent_per_peer\":{},"
        "\"messages_received_per_peer\":{},{},\"peers\":[{}]}}",
        name_of(r.mode), r.tracker_port, r.file_bytes, r.piece_count, r.piece_length, r.numwant,
        r.peers.size(), r.expected(), r.rebuilt(), r.kills_requested, killed_count(r), r.success(),
        r.timed_out, r.stop_signal, json_quote(r.failure), r.wall_seconds,
        phases_json(r.phases), json_quote(success_line(r)), json_spread(s.seconds), json_spread(s.sent),
        json_spread(s.received), format_figures_json(r.figures), peers);
}

}  // namespace minibit::loadgen
