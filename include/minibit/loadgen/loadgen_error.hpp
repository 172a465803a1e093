// Error codes of minibit-loadgen (the swarm driver): failures to start, watch or check the
// processes it runs and the files it prepares. Used with minibit::result and fail().
// Value types; any thread.
#pragma once

#include <string_view>

namespace minibit::loadgen {

enum class loadgen_errc {
    spawn_failed = 1,  ///< fork/exec of a child program failed
    io,                ///< reading or writing a file or folder failed
    tracker_failed,    ///< the tracker did not start or did not accept connections
    torrent_failed,    ///< making or reading the .torrent failed
    bad_json,          ///< a peer's --stats-json file is not valid JSON (within limits)
    interrupted,       ///< SIGINT, SIGTERM or SIGHUP reached the driver
    timed_out,         ///< a step took longer than allowed
    limits,            ///< the run does not fit this machine's limits (open files)
};

/// The domain string of loadgen errors.
[[nodiscard]] constexpr std::string_view error_domain(loadgen_errc) {
    return "loadgen";
}

}  // namespace minibit::loadgen
