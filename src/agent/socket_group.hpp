// The control socket's group (--socket-group NAME): the group looked up by name before the
// agent starts (a clear error when there is none), then given to the socket file, which the
// control server creates mode 0660, so exactly the owner and that group's members may talk to
// the agent. Any thread (getgrnam_r).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "minibit/core/result.hpp"

namespace minibit::agent {

/// The id of the group called `name`; an error naming it when no such group exists.
[[nodiscard]] result<gid_t> find_group(const std::string& name);

/// Gives the socket file at `path` to group `gid` (mode stays 0660).
[[nodiscard]] result<void> give_socket_to_group(const std::filesystem::path& path, gid_t gid);

}  // namespace minibit::agent
