#include "minibit/tracker/connection_id.hpp"

#include <algorithm>
#include <bit>
#include <random>

namespace minibit::tracker {
namespace {

std::uint64_t load_le(const std::uint8_t* p, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8U * i);
    return v;
}

struct sip_state {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v1 = std::rotl(v1, 13);
        v1 ^= v0;
        v0 = std::rotl(v0, 32);
        v2 += v3;
        v3 = std::rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = std::rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = std::rotl(v1, 17);
        v1 ^= v2;
        v2 = std::rotl(v2, 32);
    }
    void absorb(std::uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

}  // namespace

std::uint64_t siphash24(const std::array<std::uint8_t, 16>& key,
                        std::span<const std::uint8_t> data) {
    const std::uint64_t k0 = load_le(key.data(), 8);
    const std::uint64_t k1 = load_le(key.data() + 8, 8);
    sip_state s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
                k1 ^ 0x7465646279746573ULL};
    const std::size_t whole = data.size() / 8 * 8;
    for (std::size_t i = 0; i < whole; i += 8) s.absorb(load_le(data.data() + i, 8));
    const std::uint64_t last = (std::uint64_t{data.size() & 0xffU} << 56U) |
                               load_le(data.data() + whole, data.size() - whole);
    s.absorb(last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

connection_id_issuer connection_id_issuer::random() {
    std::random_device rd;
    std::array<std::uint8_t, 16> key{};
    for (std::size_t i = 0; i < key.size(); i += 4) {
        const std::uint32_t v = rd();
        for (std::size_t j = 0; j < 4; ++j) key[i + j] = static_cast<std::uint8_t>(v >> (8U * j));
    }
    return connection_id_issuer(key);
}

std::uint64_t connection_id_issuer::for_bucket(std::span<const std::uint8_t> ip,
                                               std::uint64_t bucket) const {
    std::array<std::uint8_t, 24> msg{};
    for (std::size_t i = 0; i < 8; ++i) msg[i] = static_cast<std::uint8_t>(bucket >> (8U * i));
    const std::size_t n = std::min<std::size_t>(ip.size(), 16);
    std::copy_n(ip.begin(), n, msg.begin() + 8);
    return siphash24(key_, std::span(msg).first(8 + n));
}

std::uint64_t connection_id_issuer::issue(std::span<const std::uint8_t> client_ip,
                                          std::chrono::seconds now) const {
    return for_bucket(client_ip, static_cast<std::uint64_t>(now / bucket_length));
}

bool connection_id_issuer::verify(std::uint64_t id, std::span<const std::uint8_t> client_ip,
                                  std::chrono::seconds now) const {
    const auto bucket = static_cast<std::uint64_t>(now / bucket_length);
    return id == for_bucket(client_ip, bucket) ||
           (bucket > 0 && id == for_bucket(client_ip, bucket - 1));
}

}  // namespace minibit::tracker
