// The load bounds of peer_list's open-addressing table, shared by its mutations
// (peer_list.cpp) and its invariant checks (peer_list_checks.cpp). Private to the tracker.
#pragma once

#include <cstddef>

namespace minibit::tracker::peer_list_load {

/// Smallest table; a lone peer costs 4 slots.
constexpr std::size_t min_slots = 4;
/// Load bounds in tenths: grow above 9/10 (by 1.25x, to ~0.72), shrink below 3/10 (to ~0.7).
constexpr std::size_t max_load_tenths = 9;
constexpr std::size_t min_load_tenths = 3;
constexpr std::size_t shrink_to_load_tenths = 7;

}  // namespace minibit::tracker::peer_list_load
