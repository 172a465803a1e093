#include "socket_group.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "minibit/agent/agent.hpp"

namespace minibit::agent {

result<gid_t> find_group(const std::string& name) {
    std::vector<char> buffer(16384);
    group g{};
    group* found = nullptr;
    int rc = 0;
    while ((rc = ::getgrnam_r(name.c_str(), &g, buffer.data(), buffer.size(), &found)) == ERANGE &&
           buffer.size() < (1U << 22U)) {
        buffer.resize(buffer.size() * 2);
    }
    if (rc != 0) {
        return fail(agent_errc::bad_request, fmt::format("--socket-group {}: cannot look it up: {}",
                                                         name, std::strerror(rc)));
    }
    if (found == nullptr) {
        return fail(agent_errc::bad_request,
                    fmt::format("--socket-group {}: no such group on this host", name));
    }
    return found->gr_gid;
}

result<void> give_socket_to_group(const std::filesystem::path& path, gid_t gid) {
    if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0 ||
        ::chmod(path.c_str(), 0660) != 0) {
        return fail(agent_errc::state, fmt::format("cannot give the control socket {} to group "
                                                   "{}: {}",
                                                   path.string(), gid, std::strerror(errno)));
    }
    return {};
}

}  // namespace minibit::agent
