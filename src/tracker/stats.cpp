#include "minibit/tracker/stats.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace minibit::tracker {
namespace {

constexpr std::array<std::string_view, protocol_count> protocol_names{"http", "udp"};
constexpr std::array<std::string_view, request_kind_count> kind_names{"announce", "scrape",
                                                                      "connect"};

}  // namespace

std::string_view to_string(error_kind kind) {
    static constexpr std::array<std::string_view, error_kind_count> names{
        "bad_request", "not_allowed", "bad_connection_id", "table_full",
        "not_found",   "too_large",   "timeout",           "connection_limit"};
    return names[static_cast<std::size_t>(kind)];
}

std::string_view to_string(store_state s) {
    static constexpr std::array<std::string_view, 5> names{"off", "connecting", "syncing", "up",
                                                           "down"};
    return names[static_cast<std::size_t>(s)];
}

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
}

/// The "store" object of /stats.
nlohmann::ordered_json store_json(const store_counters& c) {
    return {{"state", std::string(to_string(c.state.load(std::memory_order_relaxed)))},
            {"outages", load(c.outages)},
            {"resyncs", load(c.resyncs)},
            {"batches", load(c.batches)},
            {"written", load(c.written)},
            {"repeats", load(c.repeats)},
            {"last_batch", load(c.last_batch)},
            {"max_batch", load(c.max_batch)},
            {"merged", load(c.merged)},
            {"pulled", load(c.pulled)},
            {"errors", load(c.errors)}};
}

/// The minibit_tracker_store_* metrics.
std::string store_prometheus(const store_counters& c) {
    const store_state st = c.state.load(std::memory_order_relaxed);
    return fmt::format(
        "# HELP minibit_tracker_store_up 1 while the shared store is reachable and in sync.\n"
        "# TYPE minibit_tracker_store_up gauge\nminibit_tracker_store_up {}\n"
        "# HELP minibit_tracker_store_outages_total Times the shared store became unreachable.\n"
        "# TYPE minibit_tracker_store_outages_total counter\nminibit_tracker_store_outages_total {}\n"
        "# HELP minibit_tracker_store_written_total Announces written through to the store.\n"
        "# TYPE minibit_tracker_store_written_total counter\nminibit_tracker_store_written_total {}\n"
        "# HELP minibit_tracker_store_batches_total Write-through batches sent.\n"
        "# TYPE minibit_tracker_store_batches_total counter\nminibit_tracker_store_batches_total {}\n"
        "# HELP minibit_tracker_store_merged_total Other instances' announces applied.\n"
        "# TYPE minibit_tracker_store_merged_total counter\nminibit_tracker_store_merged_total {}\n",
        st == store_state::up ? 1 : 0, load(c.outages), load(c.written), load(c.batches),
        load(c.merged));
}

}  // namespace

void tracker_stats::tick(std::chrono::steady_clock::time_point now) {
    const auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_).count();
    for (std::size_t i = 0; i < slots; ++i) {
        const std::uint64_t v = requests_[i].load(std::memory_order_relaxed);
        if (last_tick_ != std::chrono::steady_clock::time_point{} && elapsed_ms > 0) {
            rate_milli_[i].store((v - last_[i]) * 1000000 / static_cast<std::uint64_t>(elapsed_ms),
                                 std::memory_order_relaxed);
        }
        last_[i] = v;
    }
    last_tick_ = now;
}

std::string tracker_stats::to_json(const table_totals& t, std::chrono::seconds uptime) const {
    // ordered_json keeps the fields in the order they were always written.
    nlohmann::ordered_json out{{"torrents", t.torrents},
                               {"peers", t.peers},
                               {"seeders", t.seeders},
                               {"leechers", t.peers - t.seeders},
                               {"uptime_seconds", uptime.count()},
                               {"http_connections", open_http_connections()}};
    nlohmann::ordered_json requests = nlohmann::ordered_json::object();
    for (std::size_t p = 0; p < protocol_count; ++p) {
        nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
        for (std::size_t k = 0; k < request_kind_count; ++k) {
            const std::size_t i = p * request_kind_count + k;
            const std::uint64_t milli = rate_milli_[i].load(std::memory_order_relaxed);
            kinds[std::string(kind_names[k])] = {
                {"total", requests_[i].load(std::memory_order_relaxed)},
                {"per_second", static_cast<double>(milli) / 1000.0}};
        }
        requests[std::string(protocol_names[p])] = std::move(kinds);
    }
    out["requests"] = std::move(requests);
    nlohmann::ordered_json errors = nlohmann::ordered_json::object();
    for (std::size_t e = 0; e < error_kind_count; ++e) {
        errors[std::string(to_string(static_cast<error_kind>(e)))] = errors_[e].load(
            std::memory_order_relaxed);
    }
    out["errors"] = std::move(errors);
    if (store_.state.load(std::memory_order_relaxed) != store_state::off) {
        out["store"] = store_json(store_);
    }
    return out.dump() + "\n";
}

std::string tracker_stats::to_prometheus(const table_totals& t, std::chrono::seconds uptime) const {
    std::string out = fmt::format(
        "# HELP minibit_tracker_torrents Torrents with at least one peer.\n"
        "# TYPE minibit_tracker_torrents gauge\nminibit_tracker_torrents {}\n"
        "# HELP minibit_tracker_peers Peers by state.\n"
        "# TYPE minibit_tracker_peers gauge\n"
        "minibit_tracker_peers{{state=\"seeder\"}} {}\nminibit_tracker_peers{{state=\"leecher\"}} {}\n"
        "# HELP minibit_tracker_uptime_seconds Seconds since start.\n"
        "# TYPE minibit_tracker_uptime_seconds gauge\nminibit_tracker_uptime_seconds {}\n"
        "# HELP minibit_tracker_http_connections Open HTTP connections.\n"
        "# TYPE minibit_tracker_http_connections gauge\nminibit_tracker_http_connections {}\n"
        "# HELP minibit_tracker_requests_total Requests served.\n"
        "# TYPE minibit_tracker_requests_total counter\n",
        t.torrents, t.seeders, t.peers - t.seeders, uptime.count(), open_http_connections());
    for (std::size_t p = 0; p < protocol_count; ++p) {
        for (std::size_t k = 0; k < request_kind_count; ++k) {
            out += fmt::format(
                "minibit_tracker_requests_total{{protocol=\"{}\",kind=\"{}\"}} {}\n",
                protocol_names[p], kind_names[k],
                requests_[p * request_kind_count + k].load(std::memory_order_relaxed));
        }
    }
    out +=
        "# HELP minibit_tracker_errors_total Requests refused, by reason.\n"
        "# TYPE minibit_tracker_errors_total counter\n";
    for (std::size_t e = 0; e < error_kind_count; ++e) {
        out += fmt::format("minibit_tracker_errors_total{{kind=\"{}\"}} {}\n",
                           to_string(static_cast<error_kind>(e)),
                           errors_[e].load(std::memory_order_relaxed));
    }
    if (store_.state.load(std::memory_order_relaxed) != store_state::off) {
        out += store_prometheus(store_);
    }
    return out;
}

}  // namespace minibit::tracker
