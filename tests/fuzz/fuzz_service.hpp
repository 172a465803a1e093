// The tracker service the tracker fuzz targets share: one per process, kept across inputs, with
// few and small shards so memory stays bounded over millions of runs and the cap path is hit.
#pragma once

#include <cstdint>

#include "minibit/tracker/service.hpp"

namespace minibit::fuzz {

/// The process's fuzzing tracker_service; `seed` picks its sampling RNG (one value per target).
inline tracker::tracker_service& bounded_service(std::uint64_t seed) {
    static tracker::tracker_service svc(
        [] {
            tracker::service_config c;
            c.shards = 4;
            c.table.max_torrents_per_shard = 64;
            return c;
        }(),
        seed, tracker::connection_id_issuer({}));
    return svc;
}

}  // namespace minibit::fuzz
