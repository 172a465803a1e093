// A fixed-size set of pieces stored in BEP 3 wire order: piece 0 is the high bit of byte 0,
// and the spare bits at the end of the last byte are always zero. Keeps a running count so
// "have we got everything" is O(1). A value type; one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/units.hpp"

namespace minibit {

enum class bitfield_errc { wrong_length = 1, spare_bits_set };
[[nodiscard]] constexpr std::string_view error_domain(bitfield_errc) {
    return "bitfield";
}

/// A set of piece indices in BEP 3 wire layout.
class bitfield {
public:
    bitfield() = default;
    /// All bits clear, or all set when `all_set` is true.
    explicit bitfield(std::size_t bit_count, bool all_set = false);

    /// Parses a BITFIELD payload: exactly ceil(bit_count / 8) bytes, spare bits zero (BEP 3).
    [[nodiscard]] static result<bitfield> from_wire(std::span<const std::uint8_t> bytes,
                                                    std::size_t bit_count);

    [[nodiscard]] std::size_t size() const { return bit_count_; }
    [[nodiscard]] std::size_t count() const { return set_count_; }
    [[nodiscard]] bool all() const { return set_count_ == bit_count_; }
    [[nodiscard]] bool none() const { return set_count_ == 0; }

    /// Inline: the piece picker tests bits of every piece on each pick.
    [[nodiscard]] bool test(piece_index i) const {
        if (i.get() >= bit_count_) past_the_end("bitfield::test");
        return (bytes_[i.get() / 8] & (0x80U >> (i.get() % 8))) != 0;
    }
    /// Sets bit i; returns true when it was clear before.
    bool set(piece_index i);
    /// Clears bit i; returns true when it was set before.
    bool reset(piece_index i);
    void set_all();
    void reset_all();

    /// The wire bytes: ceil(size() / 8) bytes, spare bits zero.
    [[nodiscard]] std::span<const std::uint8_t> bytes() const { return bytes_; }

    friend bool operator==(const bitfield& a, const bitfield& b) {
        return a.bit_count_ == b.bit_count_ && a.bytes_ == b.bytes_;
    }

private:
    /// Throws std::out_of_range naming the call.
    [[noreturn]] static void past_the_end(const char* what);

    std::vector<std::uint8_t> bytes_;
    std::size_t bit_count_ = 0;
    std::size_t set_count_ = 0;
};

}  // namespace minibit
