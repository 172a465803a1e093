#include "minibit/swarm/zone_roster.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace minibit::swarm {

namespace {

/// An address's host bytes: 4 for IPv4 (IPv4-mapped IPv6 included, as a dual-stack socket
/// reports IPv4 peers), 16 for IPv6, 0 for anything else.
struct host_bytes {
    std::array<std::uint8_t, 16> bytes{};
    std::size_t size = 0;
};

host_bytes host_of(const io::address& a) {
    host_bytes h;
    if (a.family() == AF_INET) {
        const auto* sa = reinterpret_cast<const sockaddr_in*>(a.data());
        std::memcpy(h.bytes.data(), &sa->sin_addr, 4);
        h.size = 4;
    } else if (a.family() == AF_INET6) {
        const auto* sa = reinterpret_cast<const sockaddr_in6*>(a.data());
        std::memcpy(h.bytes.data(), &sa->sin6_addr, 16);
        h.size = 16;
        static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0,    0,
                                                             0, 0, 0, 0, 0xff, 0xff};
        if (std::equal(mapped.begin(), mapped.end(), h.bytes.begin())) {
            std::memmove(h.bytes.data(), h.bytes.data() + 12, 4);
            std::fill(h.bytes.begin() + 4, h.bytes.end(), std::uint8_t{0});
            h.size = 4;
        }
    }
    return h;
}

std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

/// The rank of a host for a piece: the smallest rank owns it.
std::uint64_t rank(std::uint64_t host, piece_index p) {
    return mix(host ^ mix(0x9e3779b97f4a7c15ULL + p.get()));
}

}  // namespace

bool same_default_zone(const io::address& a, const io::address& b) {
    const host_bytes x = host_of(a);
    const host_bytes y = host_of(b);
    if (x.size == 0 || x.size != y.size) return false;
    const std::size_t prefix = x.size == 4 ? 3 : 8;  // /24 or /64
    return std::equal(x.bytes.begin(), x.bytes.begin() + static_cast<std::ptrdiff_t>(prefix),
                      y.bytes.begin());
}

std::uint64_t host_key(const io::address& a) {
    const host_bytes h = host_of(a);
    if (h.size == 0) return 0;
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, h.bytes.data(), 8);
    std::memcpy(&lo, h.bytes.data() + 8, 8);
    return mix(hi ^ mix(lo + h.size));
}

void zone_roster::add_member(std::uint64_t key) {
    ++members_[key];
}

void zone_roster::remove_member(std::uint64_t key) {
    const auto it = members_.find(key);
    if (it == members_.end()) return;
    if (--it->second == 0) members_.erase(it);
}

bool zone_roster::owns(piece_index p) const {
    if (relaxed_ || members_.empty()) return true;
    const std::uint64_t mine = rank(self_, p);
    return std::none_of(members_.begin(), members_.end(),
                        [&](const auto& m) { return m.first != self_ && rank(m.first, p) < mine; });
}

}  // namespace minibit::swarm
