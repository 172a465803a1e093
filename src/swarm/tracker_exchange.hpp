// Private to swarm/: the state of one UDP tracker exchange (BEP 15 connect, then announce),
// shared by the two source files of tracker_client.
#pragma once

#include <cstdint>
#include <string>

#include "minibit/io/reactor.hpp"
#include "minibit/swarm/tracker_client.hpp"

namespace minibit::swarm {

struct tracker_client::udp_exchange {
    io::address addr;
    std::string url;
    wire::announce_event event = wire::announce_event::none;
    std::uint64_t generation = 0;
    bool announcing = false;     ///< false: waiting for the connect answer
    std::uint32_t attempt = 0;   ///< BEP 15's n: the wait is 15 * 2^n s; 0 again after a connect
    std::uint32_t timeouts = 0;  ///< packets of this exchange that went unanswered
    std::uint32_t transaction = 0;
    io::timer_id timer{};
};

}  // namespace minibit::swarm
