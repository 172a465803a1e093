// Shared helpers of the libFuzzer targets: a property check that aborts with a message (libFuzzer
// and the replay runner both report an abort as a failure, with the input that caused it) and
// byte/string view conversions. Header-only; used by tests/fuzz/*_fuzz.cpp only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace minibit::fuzz {

/// Aborts with `what` when a property does not hold.
inline void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz property violated: %s\n", what);
        std::abort();
    }
}

/// The fuzzer's input as a string view.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::string_view{}
                     : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// The fuzzer's input as a byte span.
inline std::span<const std::uint8_t> as_bytes(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::span<const std::uint8_t>{} : std::span<const std::uint8_t>(data, size);
}

}  // namespace minibit::fuzz
