// The peers of one torrent: live connections by slot, what is remembered of every slot after
// its connection closed (address and peer id, to charge bad data later), outgoing connects in
// flight and when each address was last dialled (reconnect pacing). Owned by one torrent; one
// thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "minibit/io/reactor.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

class peer_connection;

/// What a torrent remembers of a connection slot, also after the connection closed.
struct slot_record {
    std::optional<wire::peer_id> id;  ///< set once its handshake was accepted
    io::address addr;
    bool counted_as_seed = false;  ///< its pieces are counted in the picker as one seed
    bool in_zone = false;          ///< in our zone (zone_roster.hpp), so in the roster
    /// When we last choked or unchoked it (set at connect): how long it waits or holds a slot.
    io::reactor::clock::time_point choke_changed_at;
};

/// Connections and connection attempts of one torrent.
class peer_set {
public:
    using clock = io::reactor::clock;
    using peer_map = std::map<peer_slot, std::shared_ptr<peer_connection>>;

    /// Live connections (handshake done or not).
    [[nodiscard]] std::size_t size() const { return peers_.size(); }
    /// Outgoing connects in flight.
    [[nodiscard]] std::size_t connecting() const { return connecting_.size(); }
    /// Caps on connections for begin_connect().
    struct connect_limits {
        std::size_t all = 0;      ///< connections and connects in flight, both directions
        std::size_t dialled = 0;  ///< outgoing connections and connects in flight
    };
    /// True when an outgoing connect to `addr` may start now: none in flight to it, no live
    /// connection to it, fewer than `limits.all` connections and connects in all, fewer than
    /// `limits.dialled` of them ours, and no attempt within `interval`. A true answer records
    /// the attempt as in flight.
    [[nodiscard]] bool begin_connect(const io::address& addr, clock::time_point now,
                                     clock::duration interval, connect_limits limits);
    /// The connect to `addr` finished, either way.
    void end_connect(const io::address& addr);

    /// Our connection to `addr` (an address we dial) showed a seed, or showed it is not one.
    void note_seed(const io::address& addr, bool seed);
    /// True when our last connection to `addr` showed a seed: a seed need not dial it again.
    [[nodiscard]] bool known_seed(const io::address& addr) const {
        return seeds_.contains(addr.to_string());
    }

    /// A fresh slot for a connection with `addr` (its record is kept from now on).
    [[nodiscard]] peer_slot open_slot(const io::address& addr);
    /// Adds a connection at its slot (opened by open_slot()).
    void insert(std::shared_ptr<peer_connection> peer);
    /// Removes the connection at `slot` and returns it; its record stays.
    std::shared_ptr<peer_connection> erase(peer_slot slot);
    /// The live connection at `slot`, or nullptr.
    [[nodiscard]] peer_connection* find(peer_slot slot) const;
    /// The record of an opened slot.
    [[nodiscard]] slot_record& record(peer_slot slot) { return slots_.at(slot); }
    /// Live connections in slot order; none may be added or removed while walking them.
    [[nodiscard]] const peer_map& live() const { return peers_; }
    /// The live connections, copied: for walks whose calls may close connections.
    [[nodiscard]] std::vector<std::shared_ptr<peer_connection>> snapshot() const;

    /// Aborts (MINIBIT_ASSERT) unless every live connection sits at its own opened slot and
    /// every connect in flight has its attempt time. O(peers).
    void check_invariants() const;

private:
    /// Runs check_invariants() in -Dinvariants=full builds.
    void checked() const;

    peer_map peers_;
    std::map<peer_slot, slot_record> slots_;
    std::set<std::string> connecting_;  ///< addresses (as text) with a connect in flight
    std::map<std::string, clock::time_point> last_attempt_;  ///< outgoing connects by address
    std::set<std::string> seeds_;  ///< dialled addresses whose connection showed a seed
    std::uint32_t next_slot_ = 0;
};

}  // namespace minibit::swarm
