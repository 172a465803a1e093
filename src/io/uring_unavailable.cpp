// Built instead of uring_reactor.cpp when liburing is not found: io_uring always reports ENOSYS.
#include "backends.hpp"

namespace minibit::io {

result<std::unique_ptr<reactor>> make_uring_reactor(const reactor_options&) {
    return std::unexpected(errno_error(ENOSYS, "io_uring support not built (liburing missing)"));
}

}  // namespace minibit::io
