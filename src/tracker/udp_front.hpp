// The UDP (BEP 15) front end of one reactor: one SO_REUSEPORT socket; each datagram goes to the
// tracker_service and its answer, if any, goes back to the sender. Reuses one reply buffer.
// Private to tracker/; owned by and called on its reactor's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "minibit/io/reactor.hpp"
#include "minibit/tracker/service.hpp"

namespace minibit::tracker {

class udp_front {
public:
    udp_front(io::reactor& r, tracker_service& service) : r_(r), service_(service) {}

    /// Binds the socket; returns the bound address.
    [[nodiscard]] result<io::address> bind(const io::address& addr);
    /// Closes the socket.
    void shutdown();

private:
    void on_datagram(std::span<const std::byte> data, const io::address& from);

    io::reactor& r_;
    tracker_service& service_;
    std::optional<io::udp_id> socket_;
    std::vector<std::uint8_t> reply_;
};

}  // namespace minibit::tracker
