// One torrent of the agent as the agent keeps it (private to the agent's sources): its
// metainfo and settings, its session while it runs, its rate buckets, and what the last events
// told subscribers. Reactor thread of the agent.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "minibit/agent/agent.hpp"
#include "state_store.hpp"

namespace minibit::agent {

/// One torrent of the agent.
struct agent::entry {
    metainfo info;
    std::string torrent_bytes;
    torrent_settings settings;
    std::unique_ptr<swarm::session> session;  ///< null while paused, failed or stopped
    std::string error;                        ///< why it failed (empty: fine)
    bool removing = false;
    bool stopping = false;                          ///< a session is still announcing its stop
    std::vector<std::function<void()>> after_stop;  ///< run once the stop finished
    std::uint32_t last_have = 0;                    ///< pieces verified when it last stopped
    std::uint64_t last_left = 0;
    std::shared_ptr<swarm::transfer_limits> limits;  ///< its own buckets and the global ones
    std::uint32_t reported_have = 0;                 ///< as the last event told subscribers
    bool reported_complete = false;
    bool reported_error = false;
    // agent_seeding.cpp
    io::reactor::clock::time_point last_seed_check{};  ///< epoch: not counting yet
    std::uint64_t seeded_ms_run = 0;    ///< seeding time of this run not yet in settings
    std::uint64_t uploaded_folded = 0;  ///< session bytes already folded into settings
    std::optional<std::uint32_t> scrape_seeders;
    io::reactor::clock::time_point next_scrape{};
    bool scraping = false;
    bool read_only = false;  ///< the session's data is open read-only
    std::string finished;    ///< why seeding ended (this run)
};

}  // namespace minibit::agent
