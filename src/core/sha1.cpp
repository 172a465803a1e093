#include "minibit/core/sha1.hpp"

#include <openssl/evp.h>

#include <stdexcept>
#include <utility>

#include "minibit/core/hex.hpp"

namespace minibit {

namespace {

// EVP_sha1() is a static method table; fetching it once avoids a lookup per call.
const EVP_MD* sha1_md() {
    static const EVP_MD* md = EVP_sha1();
    return md;
}

}  // namespace

std::string sha1_digest::hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(40, '0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = digits[bytes[i] >> 4U];
        out[2 * i + 1] = digits[bytes[i] & 0x0fU];
    }
    return out;
}

std::optional<sha1_digest> sha1_digest::from_hex(std::string_view hex) {
    if (hex.size() != 40) return std::nullopt;
    sha1_digest d;
    for (std::size_t i = 0; i < 20; ++i) {
        const int hi = hex_digit_value(hex[2 * i]);
        const int lo = hex_digit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        d.bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    return d;
}

std::optional<sha1_digest> sha1_digest::from_bytes(std::span<const std::uint8_t> raw) {
    if (raw.size() != 20) return std::nullopt;
    sha1_digest d;
    std::copy(raw.begin(), raw.end(), d.bytes.begin());
    return d;
}

sha1_digest sha1(std::span<const std::uint8_t> data) {
    sha1_digest d;
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), d.bytes.data(), &len, sha1_md(), nullptr) != 1 ||
        len != d.bytes.size()) {
        throw std::runtime_error("OpenSSL EVP_Digest(SHA-1) failed");
    }
    return d;
}

sha1_digest sha1(std::string_view data) {
    return sha1(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

sha1_hasher::sha1_hasher() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, sha1_md(), nullptr) != 1) {
        EVP_MD_CTX_free(ctx_);
        throw std::runtime_error("OpenSSL could not start a SHA-1 context");
    }
}

sha1_hasher::~sha1_hasher() {
    EVP_MD_CTX_free(ctx_);
}

sha1_hasher::sha1_hasher(sha1_hasher&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

sha1_hasher& sha1_hasher::operator=(sha1_hasher&& other) noexcept {
    if (this != &other) {
        EVP_MD_CTX_free(ctx_);
        ctx_ = std::exchange(other.ctx_, nullptr);
    }
    return *this;
}

void sha1_hasher::update(std::span<const std::uint8_t> data) {
    if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) {
        throw std::runtime_error("OpenSSL EVP_DigestUpdate(SHA-1) failed");
    }
}

sha1_digest sha1_hasher::finish() {
    sha1_digest d;
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, d.bytes.data(), &len) != 1 ||
        EVP_DigestInit_ex(ctx_, sha1_md(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL EVP_DigestFinal_ex(SHA-1) failed");
    }
    return d;
}

}  // namespace minibit
