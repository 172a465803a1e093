#include "open_files.hpp"

#include <sys/resource.h>

#include <algorithm>

#include <fmt/format.h>

#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {
namespace {

// Soft to hard: the most this process may open without privilege. With an unlimited hard
// limit, as many as needed (the kernel's fs.nr_open still caps it).
rlimit raised(const rlimit& now, std::uint64_t need) {
    rlimit want = now;
    want.rlim_cur = now.rlim_max != RLIM_INFINITY ? now.rlim_max
                                                  : std::max<rlim_t>(now.rlim_cur, need);
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) return now;
    if (want.rlim_cur >= need || want.rlim_max == RLIM_INFINITY) return want;
    // More than the hard limit: only with CAP_SYS_RESOURCE; try, else stay within it.
    rlimit more{need, need};
    return ::setrlimit(RLIMIT_NOFILE, &more) == 0 ? more : want;
}

// Connections per peer that fit `limit`, 0 when not even the peers' own descriptors do.
std::uint32_t fitting_connections(const swarm_options& o, std::uint64_t limit) {
    const std::uint64_t fixed = descriptors_needed(o, 0) - spare_descriptors;
    const std::uint64_t room = limit > spare_descriptors ? limit - spare_descriptors : 0;
    const std::uint64_t per_peer = room / o.peers;
    const std::uint64_t own = fixed / o.peers;
    return per_peer > own
               ? static_cast<std::uint32_t>(std::min<std::uint64_t>(per_peer - own, UINT32_MAX))
               : 0;
}

}  // namespace

std::uint64_t descriptors_needed(const swarm_options& o, std::uint32_t max_peers) {
    const std::uint64_t per_peer = std::uint64_t{max_peers} + own_descriptors_per_peer +
                                   (o.logs == log_layout::per_peer ? 1 : 0);
    return o.peers * per_peer + spare_descriptors;
}

std::uint64_t transient_descriptors(std::uint64_t limit) {
    return std::max<std::uint64_t>(64, limit / 16);
}

std::uint32_t connection_units(const swarm_options& o, std::uint64_t limit) {
    if (limit == RLIM_INFINITY) return 0;
    const std::uint64_t kept = descriptors_needed(o, 0) + transient_descriptors(limit);
    // Never 0 (that would mean no budget): one unit still lets the swarm make progress.
    const std::uint64_t units = limit > kept ? limit - kept : 1;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(units, UINT32_MAX));
}

result<open_file_fit> fit_open_files(const swarm_options& o) {
    rlimit now{};
    if (::getrlimit(RLIMIT_NOFILE, &now) != 0)
        return fail(loadgen_errc::io, "cannot read the open-file limit (RLIMIT_NOFILE)");
    const rlimit lim = raised(now, descriptors_needed(o, o.max_peers));
    open_file_fit fit{lim.rlim_cur, o.max_peers, std::nullopt};
    if (lim.rlim_cur == RLIM_INFINITY || descriptors_needed(o, o.max_peers) <= lim.rlim_cur)
        return fit;
    const std::uint32_t fits = fitting_connections(o, lim.rlim_cur);
    const std::string hard = "raise the hard limit (ulimit -Hn)";
    if (fits < min_connections_per_peer) {
        return fail(loadgen_errc::limits,
                    fmt::format("{} in-process peers need at least {} open files ({} connections "
                                "each); the limit is {}: lower --peers, or {}",
                                o.peers, descriptors_needed(o, min_connections_per_peer),
                                min_connections_per_peer, lim.rlim_cur, hard));
    }
    if (o.max_peers_given) {
        // Kept: the peers' shared connection budget holds the total within the limit.
        fit.note = fmt::format(
            "open files are limited to {}: {} in-process peers share {} connection ends "
            "(--max-peers {} for all would need {})",
            lim.rlim_cur, o.peers, connection_units(o, lim.rlim_cur), o.max_peers,
            descriptors_needed(o, o.max_peers));
        return fit;
    }
    fit.max_peers = fits;
    fit.note = fmt::format(
        "open files are limited to {}: {} in-process peers get --max-peers {} "
        "instead of {} ({} would need {})",
        lim.rlim_cur, o.peers, fits, o.max_peers, o.max_peers, descriptors_needed(o, o.max_peers));
    return fit;
}

}  // namespace minibit::loadgen
