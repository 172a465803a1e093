// Errors of the io part: the kernel's errno as a minibit::error in domain "io" (code = errno),
// plus a few codes of our own numbered above every errno. Value types; any thread.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit::io {

/// Codes in domain "io": errno values keep their number; our own codes start at 4096.
enum class io_errc : int {
    connection_refused = ECONNREFUSED,
    connection_reset = ECONNRESET,
    broken_pipe = EPIPE,
    canceled = ECANCELED,
    timed_out = ETIMEDOUT,
    address_in_use = EADDRINUSE,
    bad_address = 4096,  ///< an address string that does not parse
    bad_backend,         ///< a back-end name that is not auto, uring or epoll
    unavailable,         ///< the requested back end cannot run here
    stale_handle,        ///< a connection/listener/socket id that is closed or unknown
    closed,              ///< closed locally by close()
};
[[nodiscard]] constexpr std::string_view error_domain(io_errc) {
    return "io";
}

/// Wraps an errno value (from errno or -cqe->res) as an io error: "connect: Connection refused".
[[nodiscard]] error errno_error(int err, std::string_view what);

}  // namespace minibit::io
