#include "minibit/core/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace minibit::detail {

void assert_failed(const char* expr, const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", file, line, what, expr);
    std::fflush(stderr);
    std::abort();
}

}  // namespace minibit::detail
