// The log of in-process peers (`minibit-loadgen swarm --in-process`): the engine logs through
// spdlog's default logger without knowing which of the hosted peers it runs for, so each
// peer's reactor callbacks set a thread-local peer index (peer_scope) and one sink writes it
// into every line: one file logs/peers.log by default, or logs/peer-K.log per peer on request.
// The sink is thread-safe; peer_scope is per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/swarm_options.hpp"

namespace minibit::loadgen {

/// The hosted peer whose callback runs on this thread, or -1 outside any peer.
[[nodiscard]] std::int64_t current_peer();

/// Sets current_peer() for its lifetime (restores the previous value; scopes nest).
class peer_scope {
public:
    explicit peer_scope(std::int64_t peer);
    ~peer_scope();
    peer_scope(const peer_scope&) = delete;
    peer_scope& operator=(const peer_scope&) = delete;
    peer_scope(peer_scope&&) = delete;
    peer_scope& operator=(peer_scope&&) = delete;

private:
    std::int64_t saved_;
};

/// Makes the default spdlog logger write the peers' lines at `level` ("trace" ... "off"):
/// single_file: DIR/peers.log with "[peer K]" in every line; per_peer: DIR/peer-K.log (lines
/// outside any peer go to DIR/peers.log). Files are truncated first. Fails on a bad level or an
/// unwritable DIR.
[[nodiscard]] result<void> install_peer_log(const std::filesystem::path& dir, log_layout layout,
                                            const std::string& level);

/// Flushes and puts back a default logger that writes to stderr (warnings and above).
void remove_peer_log();

}  // namespace minibit::loadgen
