#include "minibit/core/result.hpp"

#include <fmt/format.h>

namespace minibit {

std::string error::message() const {
    if (offset) {
        return fmt::format("{}: at byte {}: {}", domain, *offset, reason);
    }
    return fmt::format("{}: {}", domain, reason);
}

}  // namespace minibit
