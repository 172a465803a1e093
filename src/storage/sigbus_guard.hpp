// Private to storage/: turns a SIGBUS raised while touching a file mapping (file truncated
// underneath us, disk full under a sparse mapping) into a return value. A process-wide
// handler, installed once, jumps back to the innermost guarded call of the faulting thread;
// SIGBUS outside a guarded call goes to the previous handler (default: terminate). Any thread.
#pragma once

#include <type_traits>
#include <utility>

namespace minibit::storage {

/// Runs fn(ctx); returns false when it faulted with SIGBUS. fn must not own objects with
/// destructors on its stack at the fault point (the jump skips them): memcpy and hashing only.
[[nodiscard]] bool run_guarded_raw(void (*fn)(void*), void* ctx);

/// Runs a callable under the SIGBUS guard; returns false when it faulted.
template <class Fn>
[[nodiscard]] bool run_guarded(Fn&& fn) {
    using fn_type = std::remove_reference_t<Fn>;
    return run_guarded_raw([](void* ctx) { (*static_cast<fn_type*>(ctx))(); },
                           static_cast<void*>(std::addressof(fn)));
}

}  // namespace minibit::storage
