// minibit-peer get and seed: download a torrent into a folder, or serve a complete copy.
// Thin: the flags arrive read and checked (main.cpp); build a reactor and a swarm::session, run
// the loop, print progress.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "minibit/io/reactor.hpp"
#include "minibit/swarm/session.hpp"

namespace minibit::apps {

/// What `get` or `seed` was asked for, every value already checked.
struct transfer_request {
    bool seed_mode = false;
    std::filesystem::path torrent;
    std::filesystem::path folder;           ///< get: -o DIR (default .); seed: DATA_PATH
    std::optional<double> linger_seconds;   ///< get: --seed-for; seed: --for
    std::optional<double> timeout_seconds;  ///< --timeout
    std::optional<std::string> stats_json;
    std::optional<std::string> complete_file;  ///< --complete-file: created on completion
    std::optional<std::string> log_file;       ///< --log (default: stderr)
    std::string log_level = "warn";
    swarm::session_options session;
    io::backend_kind backend = io::backend_kind::auto_select;
    unsigned threads = 1;
};

/// Runs get or seed; returns the exit status (runtime errors throw).
int transfer(const transfer_request& request);

}  // namespace minibit::apps
