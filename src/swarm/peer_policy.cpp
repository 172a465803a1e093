#include "minibit/swarm/peer_policy.hpp"

#include <algorithm>

namespace minibit::swarm {

std::uint32_t pipeline_target(const pipeline_input& in, const torrent_options& opt) {
    std::uint32_t target = opt.initial_requests;
    if (in.snubbed) {
        target = snubbed_requests;
    } else if (in.received_any) {
        const double blocks = in.download_rate * opt.pipeline_seconds / double{block_size_bytes};
        target = static_cast<std::uint32_t>(std::clamp(
            blocks, static_cast<double>(opt.min_requests), static_cast<double>(opt.max_requests)));
    }
    return std::min(target, std::max<std::uint32_t>(in.peer_reqq, 1));
}

bool keep_newer_connection(const wire::peer_id& ours, const wire::peer_id& theirs,
                           dialled_by newer) {
    const bool keep_ours_dialled = ours < theirs;
    return (newer == dialled_by::us) == keep_ours_dialled;
}

}  // namespace minibit::swarm
