// version_line(): the one translation unit that sees the generated build_version.hpp, so a new
// commit recompiles only this file.
#include <fmt/format.h>

#include "build_version.hpp"
#include "cli.hpp"

namespace minibit::apps {

std::string version_line(std::string_view program) {
    return fmt::format("{} {} ({})", program, MINIBIT_VERSION, MINIBIT_GIT_COMMIT);
}

}  // namespace minibit::apps
