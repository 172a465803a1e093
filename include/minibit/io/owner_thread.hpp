// The thread an object belongs to, remembered in checked builds (MINIBIT_INVARIANTS >= 1) so the
// object's entry points can assert that they run there; in release builds an empty type whose
// check is never evaluated (MINIBIT_ASSERT drops its condition). Any thread may ask.
#pragma once

#include <thread>

#include "minibit/core/assert.hpp"

namespace minibit::io {

/// The creating thread of an object (checked builds only).
class owner_thread {
public:
    /// True on the owning thread (always true in release builds, which never ask).
    [[nodiscard]] bool current() const noexcept {
#if MINIBIT_INVARIANTS >= 1
        return id_ == std::this_thread::get_id();
#else
        return true;
#endif
    }

private:
#if MINIBIT_INVARIANTS >= 1
    std::thread::id id_ = std::this_thread::get_id();
#endif
};

}  // namespace minibit::io
