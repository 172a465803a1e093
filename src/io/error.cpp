#include "minibit/io/error.hpp"

#include <cstring>

#include <fmt/format.h>

namespace minibit::io {

error errno_error(int err, std::string_view what) {
    return make_error(static_cast<io_errc>(err), fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace minibit::io
