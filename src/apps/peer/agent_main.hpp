// minibit-peer's host-agent commands: `agent` (the long-running agent) and the verbs that talk
// to it over its control socket (add, list, status, pause, resume, remove, wait).
#pragma once

#include <string_view>

namespace minibit::apps {

/// True for "agent" and the verbs run_agent_command handles.
[[nodiscard]] bool is_agent_command(std::string_view command);

/// Runs `minibit-peer <command> ...` for one of those commands; returns the exit status.
[[nodiscard]] int run_agent_command(int argc, char** argv);

}  // namespace minibit::apps
