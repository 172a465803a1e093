// BEP 15 connection ids without server state, like SYN cookies: id = SipHash-2-4(secret key,
// time bucket || client IP). A client may use an id for 1 minute and a tracker should accept it
// for 2 (BEP 15), so ids are issued for 120-second buckets and the previous bucket is also
// accepted (valid 2 to 4 minutes). Immutable after construction; any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

namespace minibit::tracker {

/// SipHash-2-4 of `data` under a 128-bit key (Aumasson and Bernstein's keyed PRF).
[[nodiscard]] std::uint64_t siphash24(const std::array<std::uint8_t, 16>& key,
                                      std::span<const std::uint8_t> data);

/// Issues and checks stateless connection ids.
class connection_id_issuer {
public:
    static constexpr std::chrono::seconds bucket_length{120};

    /// Uses the given secret (tests); see random() for servers.
    explicit connection_id_issuer(const std::array<std::uint8_t, 16>& secret) : key_(secret) {}
    /// A secret drawn from std::random_device (the kernel's getrandom).
    [[nodiscard]] static connection_id_issuer random();

    /// The id for a client address (4 or 16 bytes) at time `now`.
    [[nodiscard]] std::uint64_t issue(std::span<const std::uint8_t> client_ip,
                                      std::chrono::seconds now) const;
    /// True when `id` was issued to this address in this bucket or the previous one.
    [[nodiscard]] bool verify(std::uint64_t id, std::span<const std::uint8_t> client_ip,
                              std::chrono::seconds now) const;

private:
    [[nodiscard]] std::uint64_t for_bucket(std::span<const std::uint8_t> ip,
                                           std::uint64_t bucket) const;
    std::array<std::uint8_t, 16> key_;
};

}  // namespace minibit::tracker
