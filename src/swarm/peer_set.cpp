#include "minibit/swarm/peer_set.hpp"

#include "minibit/core/assert.hpp"
#include "minibit/swarm/peer_connection.hpp"

namespace minibit::swarm {

bool peer_set::begin_connect(const io::address& addr, clock::time_point now,
                             clock::duration interval, connect_limits limits) {
    const std::string key = addr.to_string();
    if (connecting_.contains(key) || peers_.size() + connecting_.size() >= limits.all) {
        return false;
    }
    std::size_t dialled = connecting_.size();
    for (const auto& [slot, p] : peers_) {
        if (p->remote() == addr) {
            return false;
        }
        dialled += p->direction() == peer_direction::outgoing ? 1 : 0;
    }
    if (dialled >= limits.dialled) {
        return false;
    }
    const auto last = last_attempt_.find(key);
    if (last != last_attempt_.end() && now - last->second < interval) {
        return false;
    }
    last_attempt_[key] = now;
    connecting_.insert(key);
    checked();
    return true;
}

void peer_set::note_seed(const io::address& addr, bool seed) {
    if (seed) {
        seeds_.insert(addr.to_string());
    } else {
        seeds_.erase(addr.to_string());
    }
}

void peer_set::end_connect(const io::address& addr) {
    connecting_.erase(addr.to_string());
}

peer_slot peer_set::open_slot(const io::address& addr) {
    const peer_slot slot{next_slot_++};
    slots_[slot].addr = addr;
    return slot;
}

void peer_set::insert(std::shared_ptr<peer_connection> peer) {
    const peer_slot slot = peer->slot();
    peers_[slot] = std::move(peer);
    checked();
}

std::shared_ptr<peer_connection> peer_set::erase(peer_slot slot) {
    const auto it = peers_.find(slot);
    if (it == peers_.end()) {
        return nullptr;
    }
    auto peer = std::move(it->second);
    peers_.erase(it);
    checked();
    return peer;
}

peer_connection* peer_set::find(peer_slot slot) const {
    const auto it = peers_.find(slot);
    return it == peers_.end() ? nullptr : it->second.get();
}

std::vector<std::shared_ptr<peer_connection>> peer_set::snapshot() const {
    std::vector<std::shared_ptr<peer_connection>> out;
    out.reserve(peers_.size());
    for (const auto& [slot, p] : peers_) {
        out.push_back(p);
    }
    return out;
}

void peer_set::checked() const {
    if constexpr (MINIBIT_INVARIANTS_FULL) {
        check_invariants();
    }
}

void peer_set::check_invariants() const {
    for (const auto& [slot, p] : peers_) {
        MINIBIT_ASSERT(p != nullptr && p->slot() == slot, "a connection filed under another slot");
        MINIBIT_ASSERT(slots_.contains(slot), "a live connection without a slot record");
    }
    for (const auto& [slot, rec] : slots_) {
        MINIBIT_ASSERT(slot.get() < next_slot_, "a slot record beyond the slots handed out");
    }
    for (const std::string& key : connecting_) {
        MINIBIT_ASSERT(last_attempt_.contains(key), "a connect in flight without its attempt time");
    }
}

}  // namespace minibit::swarm
