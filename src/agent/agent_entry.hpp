// One torrent of the agent as the agent keeps it (private to the agent's sources): its
// metainfo and settings, which shard runs its session and whether one runs, its rate buckets,
// what the last events told subscribers, its seeding goal's progress, and its API text cached
// for the list. The home reactor's thread only (the session itself lives on the shard's thread).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minibit/agent/agent.hpp"
#include "state_store.hpp"

namespace minibit::agent {

/// A torrent's seeding as the goal check (agent_seeding.cpp) follows it.
struct seed_run {
    io::reactor::clock::time_point last_check{};  ///< epoch: not counting yet
    std::uint64_t seeded_ms = 0;                  ///< seeding time of this run not yet in settings
    std::uint64_t uploaded_folded = 0;            ///< session bytes already folded into settings
    std::optional<std::uint32_t> scrape_seeders;
    io::reactor::clock::time_point next_scrape{};
    bool scraping = false;
    std::string finished;  ///< why seeding ended (this run)
};

/// One torrent of the agent.
struct agent::entry {
    metainfo info;
    std::string torrent_bytes;
    torrent_settings settings;
    std::size_t shard = 0;  ///< the shard that runs its session
    bool running = false;   ///< a session was started on the shard and not stopped since
    std::string error;      ///< why it failed (empty: fine)
    bool removing = false;
    bool stopping = false;                          ///< a session is still announcing its stop
    std::vector<std::function<void()>> after_stop;  ///< run once the stop finished
    std::uint32_t last_have = 0;                    ///< pieces verified when it last stopped
    std::uint64_t last_left = 0;
    std::shared_ptr<swarm::transfer_limits> limits;  ///< its own buckets and the global ones
    std::uint32_t reported_have = 0;                 ///< as the last event told subscribers
    bool reported_complete = false;
    bool reported_error = false;
    seed_run seeding;        ///< agent_seeding.cpp
    bool read_only = false;  ///< the running session's data is open read-only
    mutable std::optional<torrent_view> rendered_view;  ///< what rendered_text shows
    mutable std::string rendered_text;
};

}  // namespace minibit::agent
