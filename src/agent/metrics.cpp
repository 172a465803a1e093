// render_metrics: one HELP and TYPE line per metric family, then its samples; per-torrent
// samples carry the info hash as their label (minibit_torrent_info adds name and state).
#include "minibit/agent/metrics.hpp"

#include <fmt/format.h>

#include "minibit/agent/agent.hpp"

namespace minibit::agent {
namespace {

/// A label value with \, " and newline escaped.
std::string escape_label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <class Fn>
void per_torrent(std::string& out, const std::vector<torrent_view>& list, std::string_view name,
                 std::string_view type, std::string_view help, Fn value) {
    family(out, name, type, help);
    for (const auto& v : list) {
        out += fmt::format("{}{{info_hash=\"{}\"}} {}\n", name, v.hash.hex(), value(v));
    }
}

}  // namespace

void latency_histogram::observe(std::string_view route, double seconds) {
    auto it = routes_.find(route);
    if (it == routes_.end()) {
        it = routes_.emplace(std::string(route), series{}).first;
    }
    series& s = it->second;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (seconds <= bounds[i]) {
            ++s.buckets[i];
            break;
        }
    }
    ++s.count;
    s.sum += seconds;
}

std::string latency_histogram::render(std::string_view name) const {
    std::string out;
    family(out, name, "histogram", "Control API request latency by route, in seconds.");
    for (const auto& [route, s] : routes_) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < bounds.size(); ++i) {
            cumulative += s.buckets[i];
            out += fmt::format("{}_bucket{{route=\"{}\",le=\"{}\"}} {}\n", name, route, bounds[i],
                               cumulative);
        }
        out += fmt::format("{}_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", name, route, s.count);
        out += fmt::format("{}_sum{{route=\"{}\"}} {}\n", name, route, s.sum);
        out += fmt::format("{}_count{{route=\"{}\"}} {}\n", name, route, s.count);
    }
    return out;
}

std::string render_metrics(const agent& a, const latency_histogram& latency) {
    const auto st = a.status();
    const auto list = a.list();
    std::string out;
    const auto one = [&](std::string_view name, std::string_view type, std::string_view help,
                         auto value) {
        family(out, name, type, help);
        out += fmt::format("{} {}\n", name, value);
    };
    one("minibit_agent_uptime_seconds", "gauge", "Seconds since the agent started.",
        st.uptime.count());
    one("minibit_agent_torrents", "gauge", "Torrents held.", st.torrents);
    one("minibit_agent_active_torrents", "gauge", "Torrents running (not paused or failed).",
        st.active);
    one("minibit_agent_peers", "gauge", "Peer connections of every torrent.", st.peers);
    one("minibit_agent_downloaded_bytes_total", "counter", "Payload bytes received.",
        st.bytes_downloaded);
    one("minibit_agent_uploaded_bytes_total", "counter", "Payload bytes sent.", st.bytes_uploaded);
    one("minibit_agent_routed_connections_total", "counter",
        "Incoming connections handed to a torrent.", st.routed_connections);
    one("minibit_agent_refused_connections_total", "counter",
        "Incoming connections refused (unknown torrent, bad or slow handshake).",
        st.refused_connections);
    one("minibit_agent_connections", "gauge", "Peer connections open or being dialled.",
        st.connections);
    one("minibit_agent_max_connections", "gauge", "Global connection limit (0: none).",
        st.max_connections);
    one("minibit_agent_max_connections_per_torrent", "gauge",
        "Default connection limit of a torrent.", st.max_connections_per_torrent);
    one("minibit_agent_limit_refused_connections_total", "counter",
        "Connections refused at a connection limit.", st.refused_for_limit);
    family(out, "minibit_agent_rate_cap_bytes_per_second", "gauge", "Global rate caps (0: none).");
    out += fmt::format("minibit_agent_rate_cap_bytes_per_second{{direction=\"upload\"}} {}\n",
                       st.caps.upload);
    out += fmt::format("minibit_agent_rate_cap_bytes_per_second{{direction=\"download\"}} {}\n",
                       st.caps.download);
    family(out, "minibit_torrent_info", "gauge", "One per torrent: its name and state.");
    for (const auto& v : list) {
        out += fmt::format("minibit_torrent_info{{info_hash=\"{}\",name=\"{}\",state=\"{}\"}} 1\n",
                           v.hash.hex(), escape_label(v.name), to_string(v.state));
    }
    per_torrent(out, list, "minibit_torrent_downloaded_bytes_total", "counter",
                "Payload bytes received since the torrent last started.",
                [](const torrent_view& v) { return v.bytes_downloaded; });
    per_torrent(out, list, "minibit_torrent_uploaded_bytes_total", "counter",
                "Payload bytes sent since the torrent last started.",
                [](const torrent_view& v) { return v.bytes_uploaded; });
    per_torrent(out, list, "minibit_torrent_pieces_verified", "gauge", "Pieces verified.",
                [](const torrent_view& v) { return v.pieces_have; });
    per_torrent(out, list, "minibit_torrent_pieces", "gauge", "Pieces of the torrent.",
                [](const torrent_view& v) { return v.piece_count; });
    per_torrent(out, list, "minibit_torrent_left_bytes", "gauge", "Bytes still to download.",
                [](const torrent_view& v) { return v.bytes_left; });
    per_torrent(out, list, "minibit_torrent_peers", "gauge", "Peer connections.",
                [](const torrent_view& v) { return v.peers; });
    per_torrent(out, list, "minibit_torrent_download_rate_bytes_per_second", "gauge",
                "Payload download rate.", [](const torrent_view& v) { return v.download_rate; });
    per_torrent(out, list, "minibit_torrent_upload_rate_bytes_per_second", "gauge",
                "Payload upload rate.", [](const torrent_view& v) { return v.upload_rate; });
    per_torrent(out, list, "minibit_torrent_seeded_seconds", "gauge",
                "Seconds seeding while complete (every run).",
                [](const torrent_view& v) { return v.seeded_seconds; });
    out += latency.render("minibit_api_request_duration_seconds");
    return out;
}

}  // namespace minibit::agent
