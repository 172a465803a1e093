// Fuzz target: core bencode. Property: strict decoding accepts only canonical input, so when
// bdecode(x) succeeds, bencode(value) == x and every raw() span of the top value is x itself.
// Lenient key order: a decoded value re-encodes to canonical bytes that decode strictly and
// re-encode to themselves.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "minibit/core/bencode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using minibit::fuzz::check;
    const auto input = minibit::fuzz::as_text(data, size);
    minibit::bencode_limits limits;
    limits.max_depth = 32;
    limits.max_elements = 1U << 16U;
    if (const auto v = minibit::bdecode(input, limits)) {
        check(minibit::bencode(*v) == input, "strict decode ok but re-encoding differs");
        check(v->raw() == input, "top value's raw span is not the whole input");
    }
    limits.lenient_key_order = true;
    if (const auto v = minibit::bdecode(input, limits)) {
        const std::string canon = minibit::bencode(*v);
        const auto again = minibit::bdecode(canon, limits);
        check(again.has_value(), "canonical re-encoding of a lenient decode does not decode");
        check(minibit::bencode(*again) == canon, "canonical encoding is not a fixed point");
        limits.lenient_key_order = false;
        check(minibit::bdecode(canon, limits).has_value(),
              "canonical encoding fails strict decode");
    }
    return 0;
}
