#include "report_json.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace minibit::loadgen {
namespace {

// Insertion order kept: the fields come out in the order bench/compare and people expect.
using json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 4> event_names{"none", "completed", "started", "stopped"};
constexpr std::array<std::string_view, announce_error_kinds> error_names{
    "timeouts", "failures", "bad_responses", "connection_errors"};

// A figure rounded to `decimals`, as the reports have always printed it (0.171, not 0.1712...).
double rounded(double v, int decimals) {
    const double scale = std::pow(10.0, decimals);
    return std::round(v * scale) / scale;
}

json seconds_or_null(const std::optional<double>& v) {
    return v ? json(rounded(*v, 3)) : json(nullptr);
}

template <class T>
json value_or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// One line; bytes that are not UTF-8 (a tracker's failure reason, a path) become U+FFFD.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json spread_json(const spread& s) {
    return {{"min", seconds_or_null(s.min)},
            {"median", seconds_or_null(s.median)},
            {"max", seconds_or_null(s.max)}};
}

json phases_json(const run_phases& ph) {
    return {{"tracker_ready", seconds_or_null(ph.tracker_ready)},
            {"torrent_made", seconds_or_null(ph.torrent_made)},
            {"peers_prepared", seconds_or_null(ph.peers_prepared)},
            {"peers_started", seconds_or_null(ph.peers_started)},
            {"first_block", seconds_or_null(ph.first_block)},
            {"all_complete", seconds_or_null(ph.all_complete)},
            {"transfer", seconds_or_null(transfer_seconds(ph))},
            {"peers_stopped", seconds_or_null(ph.peers_stopped)},
            {"copies_checked", seconds_or_null(ph.copies_checked)},
            {"folders_removed", seconds_or_null(ph.folders_removed)}};
}

json probe_json(const std::optional<probe_result>& probe) {
    if (!probe) return nullptr;
    const auto ms = [](std::uint64_t micros) {
        return rounded(static_cast<double>(micros) / 1e3, 3);
    };
    const auto& p = *probe;
    return {{"rate_per_second", rounded(p.rate_per_second, 1)},
            {"sent", p.sent},
            {"answered", p.answered},
            {"errors", p.errors},
            {"p50_ms", ms(p.p50_us)},
            {"p99_ms", ms(p.p99_us)},
            {"p999_ms", ms(p.p999_us)},
            {"max_ms", ms(p.max_us)}};
}

void add_figures(json& j, const run_figures& f) {
    j["hosting"] = f.hosting == peer_hosting::in_process ? "in-process" : "processes";
    j["threads"] = f.threads;
    j["swarm_seconds"] = seconds_or_null(f.swarm_seconds);
    j["tracker_probe"] = probe_json(f.probe);
    j["tracker_cpu_seconds"] = seconds_or_null(f.tracker_cpu_seconds);
    j["tracker_cpu_percent"] = seconds_or_null(tracker_cpu_percent(f));
    j["max_rss_bytes"] = value_or_null(f.max_rss_bytes);
    j["peak_anon_bytes"] = value_or_null(f.peak_anon_bytes);
    j["peak_fds"] = value_or_null(f.peak_fds);
    j["nofile_limit"] = value_or_null(f.nofile_limit);
    j["connection_budget"] = value_or_null(f.connection_budget);
    j["peak_connections"] = value_or_null(f.peak_connections);
    j["tracker_cpus"] = value_or_null(f.tracker_cpus);
    j["driver_cpus"] = value_or_null(f.driver_cpus);
}

json peer_json(const peer_report& p) {
    json j = {{"index", p.index},
              {"role", name_of(p.role)},
              {"port", p.port},
              {"start_pieces", p.start_pieces},
              {"result", name_of(p.outcome)},
              {"exit", p.exit},
              {"seconds_to_complete", seconds_or_null(p.seconds_to_complete)}};
    if (p.counters) {
        const auto& c = *p.counters;
        j["messages_sent"] = c.messages_sent;
        j["messages_received"] = c.messages_received;
        j["connections"] = c.connections;
        j["bytes_up"] = c.bytes_up;
        j["bytes_down"] = c.bytes_down;
        j["wire_bytes_up"] = c.wire_bytes_up;
        j["wire_bytes_down"] = c.wire_bytes_down;
    }
    return j;
}

}  // namespace

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0 : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string format_json(const swarm_report& r) {
    const swarm_summary s = summarize(r);
    json j = {{"mode", name_of(r.mode)},
              {"tracker_port", r.tracker_port},
              {"file_bytes", r.file_bytes},
              {"piece_count", r.piece_count},
              {"piece_length", r.piece_length},
              {"numwant", r.numwant},
              {"origin", r.origin},
              {"peers_total", r.peers.size()},
              {"expected", r.expected()},
              {"rebuilt", r.rebuilt()},
              {"kills_requested", r.kills_requested},
              {"killed", r.killed()},
              {"success", r.success()},
              {"timed_out", r.timed_out},
              {"stop_signal", r.stop_signal},
              {"failure", r.failure},
              {"wall_seconds", rounded(r.wall_seconds, 3)},
              {"phases", phases_json(r.phases)},
              {"removal_detached", r.removal_detached},
              {"summary", r.summary_line()},
              {"seconds_to_complete", spread_json(s.seconds)},
              {"messages_sent_per_peer", spread_json(s.sent)},
              {"messages_received_per_peer", spread_json(s.received)}};
    const auto copies = r.seed_upload_copies();
    j["seed_upload_copies"] = copies ? json(rounded(*copies, 3)) : json(nullptr);
    j["uplink_rate"] = r.uplink_rate;
    if (const auto b = r.bound()) {
        const auto ratio = r.bound_ratio();
        j["fluid_bound"] = {{"seconds", rounded(b->seconds, 3)},
                            {"binding", b->binding},
                            {"ratio", ratio ? json(rounded(*ratio, 3)) : json(nullptr)},
                            {"assumes", b->assumes}};
    } else {
        j["fluid_bound"] = nullptr;
    }
    add_figures(j, r.figures);
    json peers = json::array();
    for (const auto& p : r.peers) peers.push_back(peer_json(p));
    j["peers"] = std::move(peers);
    return dump(j);
}

std::string format_json(const announce_report& r) {
    const auto& o = r.options;
    json j = {
        {"tracker", o.url},
        {"protocol", o.tracker.scheme == tracker_scheme::udp ? "udp" : "http"},
        {"http_close", o.reuse == http_reuse::close_each},
        {"torrents", o.torrents},
        {"peers", o.peers},
        {"concurrency", o.concurrency},
        {"sockets", o.tracker.scheme == tracker_scheme::udp ? o.udp_sockets : 0},
        {"rate_limit", rounded(o.rate, 1)},
        {"arrivals", o.arrivals == arrival_model::poisson ? "poisson"
                     : o.arrivals == arrival_model::even  ? "even"
                                                          : "burst"},
        {"numwant", o.numwant},
        {"count", o.count},
        {"duration_limit_seconds", rounded(static_cast<double>(o.duration.count()) / 1000.0, 3)},
        {"ended_by", r.ended_by},
        {"seconds", rounded(r.seconds, 3)},
        {"sent", r.sent},
        {"announces", r.answered},
        {"announces_per_second", rounded(r.rate(), 1)},
        {"latency_us",
         {{"p50", r.latency.quantile(0.5)},
          {"p99", r.latency.quantile(0.99)},
          {"p999", r.latency.quantile(0.999)},
          {"max", r.latency.max()}}}};
    j["cpu_ms"] = rounded(r.cpu_ms, 1);
    j["run_queue_wait_ms"] = rounded(r.run_queue_wait_ms, 1);
    j["send_lag_us"] = {{"p50", r.send_lag.quantile(0.5)},
                        {"p99", r.send_lag.quantile(0.99)},
                        {"max", r.send_lag.max()}};
    json events = json::object();
    for (std::size_t i = 0; i < event_names.size(); ++i) events[event_names[i]] = r.events[i];
    j["events"] = std::move(events);
    j["peers_received"] = r.peers_received;
    j["retransmits"] = r.retransmits;
    j["connects"] = r.connects;
    j["stale_connection_retries"] = r.stale_retries;
    json errors = {{"total", r.error_total()}};
    for (std::size_t i = 0; i < error_names.size(); ++i) errors[error_names[i]] = r.errors[i];
    j["errors"] = std::move(errors);
    json reasons = json::object();
    for (const auto& [reason, n] : r.failure_reasons) reasons[reason] = n;
    j["failure_reasons"] = std::move(reasons);
    return dump(j);
}

std::string format_json(const floor_report& r) {
    json seconds = json::array();
    json spawned = json::array();
    for (const double s : r.seconds) seconds.push_back(rounded(s, 4));
    for (const double s : r.spawned_seconds) spawned.push_back(rounded(s, 4));
    const json j = {{"program", r.program.string()},
                    {"processes", r.processes},
                    {"seconds", std::move(seconds)},
                    {"spawned_seconds", std::move(spawned)},
                    {"median_seconds", rounded(median_of(r.seconds), 4)}};
    return dump(j);
}

}  // namespace minibit::loadgen
