// Options of `minibit-loadgen announce`: which tracker, how many simulated torrents and peers,
// how much load (concurrency, count, duration) and the per-request timeout. Value types filled
// by announce_cli.cpp and read by the HTTP and UDP drivers; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace minibit::loadgen {

/// Transport of the tracker URL.
enum class tracker_scheme : std::uint8_t { http, udp };

/// Whether an HTTP connection carries many announces or one.
enum class http_reuse : std::uint8_t { keep_alive, close_each };

/// A parsed tracker URL: numeric IPv4 host (or localhost), port, and the HTTP path.
struct tracker_url_parts {
    tracker_scheme scheme = tracker_scheme::http;
    std::string host;           ///< as written in the URL (for the Host header)
    std::uint32_t ipv4_be = 0;  ///< the address in network byte order
    std::uint16_t port = 0;
    std::string path = "/announce";  ///< HTTP only; UDP ignores it
};

/// When a paced run (--rate) sends its announces.
enum class arrival_model : std::uint8_t {
    burst,    ///< whatever is due when the driver's loop turns (several per turn), the old way
    even,     ///< one at a time, evenly spaced 1/rate apart
    poisson,  ///< one at a time, exponential gaps of mean 1/rate (many independent clients)
};

/// Everything one announce run needs.
struct announce_options {
    std::string url;  ///< as given, for the report; empty: no load (see below)
    tracker_url_parts tracker;
    std::uint32_t torrents = 10;     ///< distinct info hashes (derived, see torrent_hash())
    std::uint32_t peers = 1000;      ///< simulated peers, spread round-robin over the torrents
    std::uint32_t concurrency = 16;  ///< HTTP connections or UDP requests in flight
    std::uint64_t count = 0;         ///< announces to issue; 0 = until the duration ends
    std::chrono::milliseconds duration{10000};  ///< issuing stops after this, always
    double rate = 0;  ///< offered announces per second; 0 = as fast as answered
    /// How a paced UDP run spaces its announces in time (HTTP: always `burst`).
    arrival_model arrivals = arrival_model::burst;
    std::uint32_t numwant = 50;               ///< numwant of leechers (seeders ask for a quarter)
    std::chrono::milliseconds timeout{5000};  ///< per request attempt
    std::uint32_t udp_retries = 1;            ///< UDP retransmissions after a timeout
    std::uint32_t udp_sockets = 1;  ///< UDP client sockets (addresses), all driven by one thread
    http_reuse reuse = http_reuse::keep_alive;
    std::filesystem::path info_hashes_file;  ///< when set, the info hashes are written here first
};

}  // namespace minibit::loadgen
