// `minibit-loadgen announce`: reads the flags into announce_options, runs the driver and prints
// the report (text or JSON). Called by main.cpp's dispatcher; throws usage_error on bad flags.
#pragma once

#include <string_view>

namespace minibit::loadgen {

/// Usage text of the announce subcommand.
extern const std::string_view announce_usage;

/// Runs `minibit-loadgen announce ...`; returns the exit status (0: no errors).
[[nodiscard]] int cmd_announce(int argc, char** argv);

}  // namespace minibit::loadgen
