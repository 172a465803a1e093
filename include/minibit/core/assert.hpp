// Runtime invariant checks. MINIBIT_ASSERT(cond, what) aborts with the file, line and `what` when
// `cond` is false; it is compiled in when MINIBIT_INVARIANTS >= 1 (debug and sanitizer builds, or
// -Dinvariants=on) and compiles to nothing otherwise (the condition is not evaluated).
// MINIBIT_INVARIANTS_FULL is true with -Dinvariants=full: expensive whole-structure checks
// (check_invariants() after every mutation) run only then. Any thread.
#pragma once

#ifndef MINIBIT_INVARIANTS
#define MINIBIT_INVARIANTS 0
#endif

namespace minibit::detail {
/// Prints the failed check on stderr and aborts; never returns.
[[noreturn]] void assert_failed(const char* expr, const char* what, const char* file, int line);
}  // namespace minibit::detail

#if MINIBIT_INVARIANTS >= 1
#define MINIBIT_ASSERT(cond, what)                                               \
    do {                                                                         \
        if (!(cond)) [[unlikely]] {                                              \
            ::minibit::detail::assert_failed(#cond, (what), __FILE__, __LINE__); \
        }                                                                        \
    } while (false)
#else
// sizeof keeps the condition unevaluated (no code, no cost) but still a use of the names in it,
// so variables that only a check reads raise no unused-variable warning in release builds.
#define MINIBIT_ASSERT(cond, what)    \
    do {                              \
        (void)sizeof((cond) ? 1 : 0); \
    } while (false)
#endif

/// True when expensive whole-structure checks are compiled in (-Dinvariants=full).
#define MINIBIT_INVARIANTS_FULL (MINIBIT_INVARIANTS >= 2)
