// The error type of a user's mistake on the command line, shared by the three programs: main
// prints it as one line "minibit-<prog>: <reason>" and exits with status 2.
#pragma once

#include <stdexcept>

namespace minibit::apps {

/// A user's mistake on the command line; main prints it and exits with status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace minibit::apps
