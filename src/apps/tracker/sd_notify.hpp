// systemd's notification protocol written by hand (no libsystemd): one datagram with
// "READY=1", "WATCHDOG=1" or "STOPPING=1" to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or '@' for the abstract namespace). Any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace minibit::apps {

/// Sends `state` to $NOTIFY_SOCKET; false when unset or the send failed.
bool sd_notify(std::string_view state);

/// Half of $WATCHDOG_USEC (how often to send WATCHDOG=1), or nullopt when no watchdog is set.
[[nodiscard]] std::optional<std::chrono::milliseconds> watchdog_period();

}  // namespace minibit::apps
