// SHA-1 through OpenSSL's EVP interface: one-shot hashing of byte spans and an incremental
// hasher for data that arrives in parts (pieces spanning files). Digest and info-hash value types.
// A sha1_hasher belongs to one thread at a time; the free functions are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace minibit {

/// A 20-byte SHA-1 digest.
struct sha1_digest {
    std::array<std::uint8_t, 20> bytes{};

    auto operator<=>(const sha1_digest&) const = default;
    /// Lower-case hex, 40 characters.
    [[nodiscard]] std::string hex() const;
    /// Parses 40 hex characters (either case); nullopt on anything else.
    [[nodiscard]] static std::optional<sha1_digest> from_hex(std::string_view hex);
    /// Takes exactly 20 raw bytes; nullopt on any other length.
    [[nodiscard]] static std::optional<sha1_digest> from_bytes(std::span<const std::uint8_t> raw);
    [[nodiscard]] std::string_view view() const {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
};

/// The BitTorrent v1 info hash: SHA-1 of the bencoded info dictionary, exactly as in the file.
using info_hash = sha1_digest;

/// SHA-1 of one span.
[[nodiscard]] sha1_digest sha1(std::span<const std::uint8_t> data);
/// SHA-1 of one string's bytes.
[[nodiscard]] sha1_digest sha1(std::string_view data);

/// Incremental SHA-1; reusable after finish(). Not copyable.
class sha1_hasher {
public:
    sha1_hasher();
    ~sha1_hasher();
    sha1_hasher(const sha1_hasher&) = delete;
    sha1_hasher& operator=(const sha1_hasher&) = delete;
    sha1_hasher(sha1_hasher&& other) noexcept;
    sha1_hasher& operator=(sha1_hasher&& other) noexcept;

    /// Feeds more bytes.
    void update(std::span<const std::uint8_t> data);
    /// Returns the digest of everything fed since construction or the last finish().
    [[nodiscard]] sha1_digest finish();

private:
    evp_md_ctx_st* ctx_ = nullptr;
};

}  // namespace minibit

template <>
struct std::hash<minibit::sha1_digest> {
    std::size_t operator()(const minibit::sha1_digest& d) const noexcept {
        std::size_t h = 0;
        for (std::size_t i = 0; i < sizeof h; ++i) {
            h = (h << 8U) | d.bytes[i];
        }
        return h;
    }
};
