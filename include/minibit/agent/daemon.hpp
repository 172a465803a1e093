// The agent as a running process: N reactor threads (the agent, its control socket and TCP
// listeners on the first; torrents spread over all), SIGTERM/SIGINT handled as a clean stop
// (every torrent stopped and its resume record saved, the socket file removed) and SIGHUP as a
// reload of the settings. Also the default locations of the state folder, the
// control socket and the download folder (root: /var/lib, /run; others: XDG folders).
// Call from the main thread, before any other thread starts.
#pragma once

#include <filesystem>
#include <functional>

#include "minibit/agent/agent.hpp"
#include "minibit/core/result.hpp"

namespace minibit::agent {

/// Everything the agent process needs.
struct daemon_options {
    agent_options settings;
    /// Reactor threads the torrents are spread over (0: one per core).
    unsigned threads = 0;
    std::filesystem::path socket_path;
    /// TCP control listener ADDR:PORT (empty: none); requires a bearer token from the file.
    std::string api_address;
    std::filesystem::path api_token_file;
    /// Read-only TCP listener serving GET /metrics only (empty: none).
    std::string metrics_address;
    /// Called once the agent serves (torrents loaded, socket listening); e.g. sd_notify.
    std::function<void(const agent&)> on_ready;
    /// Called every second while every reactor answers (e.g. a watchdog keep-alive); skipped
    /// when one of them did not answer the previous second's ping.
    std::function<void()> on_tick;
    /// Group of the control socket (empty: the process's own); it must exist.
    std::string socket_group;
    /// Called on SIGHUP: the agent's settings as the config file now says (applied with
    /// agent::reconfigure), or why they cannot be read (then nothing changes).
    std::function<result<agent_options>()> reload;
};

/// Runs the agent until SIGTERM or SIGINT; an error when it cannot start.
[[nodiscard]] result<void> run_daemon(daemon_options options);

/// $XDG_STATE_HOME/minibit/agent (~/.local/state/...), or /var/lib/minibit as root.
[[nodiscard]] std::filesystem::path default_state_dir();
/// $XDG_RUNTIME_DIR/minibit/agent.sock, or /run/minibit/agent.sock as root (and without
/// XDG_RUNTIME_DIR: /tmp/minibit-<uid>/agent.sock).
[[nodiscard]] std::filesystem::path default_socket_path();
/// $XDG_DOWNLOAD_DIR or ~/Downloads, or /var/lib/minibit/downloads as root.
[[nodiscard]] std::filesystem::path default_download_dir();

}  // namespace minibit::agent
