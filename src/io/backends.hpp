// Private factories of the two back ends, used by make_reactor() and the probe.
#pragma once

#include <memory>
#include <string>

#include "minibit/io/reactor.hpp"

namespace minibit::io {

/// An epoll reactor (always available on Linux).
[[nodiscard]] result<std::unique_ptr<reactor>> make_epoll_reactor(const reactor_options& options);
/// An io_uring reactor, or the errno error that says why not (ENOSYS, EPERM, EINVAL, ...).
[[nodiscard]] result<std::unique_ptr<reactor>> make_uring_reactor(const reactor_options& options);

}  // namespace minibit::io
