// peer_list's invariant checks (-Dinvariants=full runs them after every mutation): the Robin
// Hood order of each run, the load bounds, every record findable at its slot, and the zone
// index naming every record once.
#include "minibit/core/assert.hpp"
#include "minibit/tracker/peer_list.hpp"
#include "peer_list_load.hpp"
#include "zone_index.hpp"

namespace minibit::tracker {

using peer_list_load::max_load_tenths;
using peer_list_load::min_load_tenths;
using peer_list_load::min_slots;

template <std::size_t N>
void peer_list<N>::check_run(std::size_t slot) const {
    if (slots_.empty()) return;
    // Back to the empty slot before the run (one exists: size < capacity), then forward
    // through the run to the next empty slot.
    std::size_t s = slot;
    while (!slots_[s].empty()) s = s == 0 ? slots_.size() - 1 : s - 1;
    for (s = next(s); !slots_[s].empty(); s = next(s)) {
        [[maybe_unused]] const std::size_t before = s == 0 ? slots_.size() - 1 : s - 1;
        [[maybe_unused]] const std::size_t d = distance(s);
        MINIBIT_ASSERT(slots_[before].empty() ? d == 0 : d <= distance(before) + 1,
                       "peer_list: Robin Hood order broken");
        MINIBIT_ASSERT(find(slots_[s].endpoint) == s, "peer_list: record not found at its slot");
    }
}

template <std::size_t N>
void peer_list<N>::check_invariants() const {
    const std::size_t cap = slots_.size();
    MINIBIT_ASSERT((size_ == 0) == (cap == 0), "peer_list: slots exist iff peers do");
    MINIBIT_ASSERT(cap < (std::size_t{1} << 32U), "peer_list: capacity fits 32 bits");
    MINIBIT_ASSERT(std::size_t{size_} * 10 <= cap * max_load_tenths, "peer_list: load above 0.9");
    MINIBIT_ASSERT(cap <= min_slots || std::size_t{size_} * 10 >= cap * min_load_tenths,
                   "peer_list: load below 0.3 above the smallest table");
    std::size_t used = 0;
    for (std::size_t s = 0; s < cap; ++s) {
        const record_type& r = slots_[s];
        if (r.empty()) continue;
        ++used;
        MINIBIT_ASSERT(r.stamp() >= 1 && r.stamp() <= stamp_period,
                       "peer_list: stamp out of range");
        [[maybe_unused]] const std::size_t before = s == 0 ? cap - 1 : s - 1;
        [[maybe_unused]] const std::size_t d = distance(s);
        MINIBIT_ASSERT(slots_[before].empty() ? d == 0 : d <= distance(before) + 1,
                       "peer_list: Robin Hood order broken");
        MINIBIT_ASSERT(find(r.endpoint) == s, "peer_list: record not found at its slot");
    }
    MINIBIT_ASSERT(used == size_, "peer_list: size differs from the occupied slots");
    if (index_) check_index();
}

template <std::size_t N>
void peer_list<N>::check_index() const {
    index_->check_invariants(size_);
    for (std::size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].empty()) continue;
        [[maybe_unused]] const zone_link l = index_->at(s);
        MINIBIT_ASSERT(l.group < index_->group_entries() &&
                           l.pos < index_->members(l.group).size() &&
                           index_->members(l.group)[l.pos] == s,
                       "peer_list: a record is not a member of its zone group");
    }
}

template void peer_list<6>::check_run(std::size_t) const;
template void peer_list<18>::check_run(std::size_t) const;
template void peer_list<6>::check_invariants() const;
template void peer_list<18>::check_invariants() const;
template void peer_list<6>::check_index() const;
template void peer_list<18>::check_index() const;

}  // namespace minibit::tracker
