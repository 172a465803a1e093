// Shared fixture of the io integration tests: a reactor of the back end under test (io_uring
// tests skip when this machine cannot run it), bounded loop helpers and a byte pattern.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "minibit/io/reactor.hpp"
#include "skip_or_fail.hpp"

namespace minibit::io::testing {

/// Runs `r` until `done()` holds, at most 20 s and 200000 turns; returns done().
template <class Pred>
bool spin(reactor& r, Pred done, std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (int i = 0; i < 200000 && !done(); ++i) {
        if (std::chrono::steady_clock::now() > deadline) {
            break;
        }
        auto turn = r.run_once(std::chrono::milliseconds(10));
        EXPECT_TRUE(turn.has_value()) << (turn ? "" : turn.error().message());
    }
    return done();
}

/// Runs two reactors alternately until `done()` holds (bounded like spin()).
template <class Pred>
bool spin2(reactor& a, reactor& b, Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int i = 0; i < 200000 && !done(); ++i) {
        if (std::chrono::steady_clock::now() > deadline) {
            break;
        }
        EXPECT_TRUE(a.run_once(std::chrono::milliseconds(1)).has_value());
        EXPECT_TRUE(b.run_once(std::chrono::milliseconds(1)).has_value());
    }
    return done();
}

/// A deterministic byte for stream position `offset` (period not a power of two).
inline std::byte pattern_byte(std::size_t offset) {
    return static_cast<std::byte>((offset * 131U + offset / 251U) & 0xffU);
}

/// `size` pattern bytes starting at stream position `offset`.
inline std::vector<std::byte> pattern(std::size_t offset, std::size_t size) {
    std::vector<std::byte> out(size);
    for (std::size_t i = 0; i < size; ++i) {
        out[i] = pattern_byte(offset + i);
    }
    return out;
}

/// What a receiver got of one pattern() stream of `total` bytes: how many bytes, and the first
/// offset whose byte was wrong (`total` while none was).
struct pattern_stream {
    std::size_t total = 0;
    std::size_t got = 0;
    std::size_t first_bad = 0;

    explicit pattern_stream(std::size_t expected) : total(expected), first_bad(expected) {}
    void take(std::span<const std::byte> d) {
        for (std::size_t i = 0; i < d.size(); ++i) {
            if (d[i] != pattern_byte(got + i) && first_bad == total) first_bad = got + i;
        }
        got += d.size();
    }
};

/// Runs `r` until `accepted` reaches in.size() and every stream got its total (60 s at most),
/// then expects each stream whole and unchanged.
inline void expect_whole_streams(reactor& r, const std::size_t& accepted,
                                 const std::vector<pattern_stream>& in) {
    ASSERT_TRUE(spin(
        r,
        [&] {
            return accepted == in.size() && std::all_of(in.begin(), in.end(), [](const auto& s) {
                       return s.got >= s.total;
                   });
        },
        std::chrono::seconds(60)));
    for (std::size_t n = 0; n < in.size(); ++n) {
        EXPECT_EQ(in[n].got, in[n].total) << "stream " << n;
        EXPECT_EQ(in[n].first_bad, in[n].total) << "stream " << n << ": first wrong byte";
    }
}

inline std::vector<std::byte> bytes_of(const std::string& s) {
    std::vector<std::byte> out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        out[i] = static_cast<std::byte>(s[i]);
    }
    return out;
}

inline std::string string_of(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// Creates the reactor for GetParam(); skips io_uring where it cannot run (fails under CI=true).
class ReactorTest : public ::testing::TestWithParam<backend_kind> {
protected:
    void SetUp() override {
        if (GetParam() == backend_kind::uring && !uring_available()) {
            MINIBIT_SKIP_OR_FAIL("io_uring is not available on this machine");
        }
        auto made = make_reactor(GetParam(), reactor_options{});
        ASSERT_TRUE(made.has_value()) << made.error().message();
        r_ = std::move(*made);
        ASSERT_EQ(r_->kind(), GetParam());
    }

    /// A listener on 127.0.0.1:0 calling `on_accept`; returns its address.
    address listen_loopback(accept_fn on_accept) {
        auto id = r_->listen(address::loopback_v4(0), listen_options{}, std::move(on_accept));
        EXPECT_TRUE(id.has_value());
        auto where = r_->local_address(*id);
        EXPECT_TRUE(where.has_value());
        return *where;
    }

    std::unique_ptr<reactor> r_;
};

inline std::string backend_name(const ::testing::TestParamInfo<backend_kind>& info) {
    return std::string(to_string(info.param));
}

}  // namespace minibit::io::testing
