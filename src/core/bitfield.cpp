#include "minibit/core/bitfield.hpp"

#include <fmt/format.h>
#include <bit>
#include <stdexcept>

namespace minibit {

namespace {

constexpr std::size_t bytes_for(std::size_t bits) {
    return (bits + 7) / 8;
}

// Mask of the bits in the last byte that belong to real pieces (BEP 3: high bit first).
constexpr std::uint8_t last_byte_mask(std::size_t bits) {
    const std::size_t used = bits % 8;
    return used == 0 ? std::uint8_t{0xff} : static_cast<std::uint8_t>(0xff00U >> used);
}

constexpr std::uint8_t bit_mask(std::uint32_t i) {
    return static_cast<std::uint8_t>(0x80U >> (i % 8));
}

}  // namespace

bitfield::bitfield(std::size_t bit_count, bool all_set)
    : bytes_(bytes_for(bit_count), 0), bit_count_(bit_count) {
    if (all_set) set_all();
}

result<bitfield> bitfield::from_wire(std::span<const std::uint8_t> bytes, std::size_t bit_count) {
    if (bytes.size() != bytes_for(bit_count)) {
        return fail(bitfield_errc::wrong_length,
                    fmt::format("bitfield has {} bytes, {} pieces need {}", bytes.size(), bit_count,
                                bytes_for(bit_count)));
    }
    if (!bytes.empty() &&
        (bytes.back() & static_cast<std::uint8_t>(~last_byte_mask(bit_count))) != 0) {
        return fail(bitfield_errc::spare_bits_set,
                    "bitfield has spare bits set past the last piece", bytes.size() - 1);
    }
    bitfield out;
    out.bytes_.assign(bytes.begin(), bytes.end());
    out.bit_count_ = bit_count;
    for (const std::uint8_t b : out.bytes_) {
        out.set_count_ += static_cast<std::size_t>(std::popcount(b));
    }
    return out;
}

void bitfield::past_the_end(const char* what) {
    throw std::out_of_range(std::string(what) + ": index past the end");
}

bool bitfield::set(piece_index i) {
    if (i.get() >= bit_count_) throw std::out_of_range("bitfield::set: index past the end");
    std::uint8_t& b = bytes_[i.get() / 8];
    if ((b & bit_mask(i.get())) != 0) return false;
    b = static_cast<std::uint8_t>(b | bit_mask(i.get()));
    ++set_count_;
    return true;
}

bool bitfield::reset(piece_index i) {
    if (i.get() >= bit_count_) throw std::out_of_range("bitfield::reset: index past the end");
    std::uint8_t& b = bytes_[i.get() / 8];
    if ((b & bit_mask(i.get())) == 0) return false;
    b = static_cast<std::uint8_t>(b & ~bit_mask(i.get()));
    --set_count_;
    return true;
}

void bitfield::set_all() {
    std::fill(bytes_.begin(), bytes_.end(), std::uint8_t{0xff});
    if (!bytes_.empty()) bytes_.back() = last_byte_mask(bit_count_);
    set_count_ = bit_count_;
}

void bitfield::reset_all() {
    std::fill(bytes_.begin(), bytes_.end(), std::uint8_t{0});
    set_count_ = 0;
}

}  // namespace minibit
