// Shared fixture of the swarm integration tests: a random torrent on disk, sessions of the peer
// engine on one test reactor (loopback, short intervals), a bounded spin loop, and raw_peer, a
// socket in the test speaking the peer protocol by hand (for hostile and corrupt peers).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "minibit/core/metainfo.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/session.hpp"
#include "minibit/wire/peer_decoder.hpp"
#include "minibit/wire/peer_message.hpp"

#include "skip_or_fail.hpp"
#include "temp_dir.hpp"

namespace minibit::swarm::testing {

namespace fs = std::filesystem;

/// Runs `r` until `done()` holds, at most `limit` and 500000 turns; returns done().
template <class Pred>
bool spin(io::reactor& r, Pred done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (int i = 0; i < 500000 && !done(); ++i) {
        if (std::chrono::steady_clock::now() > deadline) break;
        auto turn = r.run_once(std::chrono::milliseconds(5));
        EXPECT_TRUE(turn.has_value()) << (turn ? "" : turn.error().message());
    }
    return done();
}

/// A temp folder removed at the end of the test.
struct temp_dir : minibit::testing::temp_dir {
    temp_dir() : minibit::testing::temp_dir("minibit-swarm-") {}
};

/// Writes `size` random bytes to dir/seed/name and returns the parsed torrent for it.
inline metainfo make_torrent(const fs::path& dir, std::size_t size, std::uint64_t piece_length,
                             std::vector<std::string> trackers, std::string name = "data.bin") {
    fs::create_directories(dir / "seed");
    std::vector<char> bytes(size);
    std::mt19937 rng(static_cast<unsigned>(size));
    for (auto& b : bytes) b = static_cast<char>(rng());
    {
        std::ofstream out(dir / "seed" / name, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    create_options o;
    o.trackers = trackers.empty() ? std::vector<std::string>{"http://127.0.0.1:9/announce"}
                                  : trackers;
    o.piece_length = piece_length;
    auto raw = create_torrent(dir / "seed" / name, o);
    EXPECT_TRUE(raw) << raw.error().message();
    auto m = parse_metainfo(*raw);
    EXPECT_TRUE(m) << m.error().message();
    return *m;
}

/// Session options for loopback tests: short intervals everywhere.
inline session_options loopback_options(use_trackers trackers = use_trackers::no) {
    session_options o;
    o.listen_host = "127.0.0.1";
    o.trackers = trackers;
    o.redial_interval = std::chrono::milliseconds(200);
    o.torrent.rechoke_interval = std::chrono::milliseconds(100);
    o.torrent.tick_interval = std::chrono::milliseconds(50);
    o.torrent.request_timeout = std::chrono::milliseconds(1500);
    o.torrent.reconnect_interval = std::chrono::milliseconds(200);
    o.torrent.handshake_timeout = std::chrono::milliseconds(300);
    o.tracker.retry_min = std::chrono::milliseconds(200);
    o.tracker.retry_max = std::chrono::milliseconds(1000);
    o.tracker.udp_timeout = std::chrono::milliseconds(300);
    o.tracker.http_timeout = std::chrono::milliseconds(2000);
    o.tracker.stopped_timeout = std::chrono::milliseconds(300);
    return o;
}

/// The whole file, or "" when it cannot be read.
inline std::string read_all(const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) return {};
    std::string out(size, '\0');
    std::ifstream in(p, std::ios::binary);
    in.read(out.data(), static_cast<std::streamsize>(size));
    return in ? out : std::string{};
}

/// True when the two files hold the same (non-empty) bytes.
inline bool same_file(const fs::path& a, const fs::path& b) {
    const std::string sa = read_all(a);
    return !sa.empty() && sa == read_all(b);
}

/// A peer written by hand in the test: connects, handshakes, then does what the test says.
class raw_peer {
public:
    /// Whether the raw peer opens with a handshake or says nothing at all.
    enum class opening { handshake, silence };

    raw_peer(io::reactor& r, const metainfo& m, const io::address& to, bool fast = true,
             std::optional<wire::peer_id> id = std::nullopt, opening open = opening::handshake)
        : reactor_(r),
          decoder_(wire::torrent_bounds{
              m.piece_count(), static_cast<std::uint32_t>(m.piece_length),
              static_cast<std::uint32_t>(m.piece_size(piece_index{m.piece_count() - 1}))}) {
        id_.bytes.fill('r');
        std::memcpy(id_.bytes.data(), "-RAW000-", 8);
        id_.bytes[19] = static_cast<std::uint8_t>(next_id_++);
        if (id) id_ = *id;
        scope_.connect(to, [this, hash = m.hash, fast, open](result<io::connection> c) {
            if (!c) {
                closed_ = true;
                return;
            }
            conn_ = c->id();
            io::conn_handlers h{
                scope_.guard([this](std::span<const std::byte> b) { on_data(b); }),
                scope_.guard([this](const std::optional<error>&) { closed_ = true; })};
            EXPECT_TRUE(reactor_.start(conn_, std::move(h)));
            connected_ = true;
            if (open == opening::silence) return;
            wire::handshake hs;
            hs.hash = hash;
            hs.id = id_;
            hs.set_fast_extension(fast);
            send(hs);
        });
    }
    ~raw_peer() {
        if (connected_ && !closed_) reactor_.close(conn_);
    }
    raw_peer(const raw_peer&) = delete;
    raw_peer& operator=(const raw_peer&) = delete;

    /// Sends raw bytes.
    void send_bytes(const std::vector<std::uint8_t>& bytes) {
        std::vector<std::byte> out(bytes.size());
        std::memcpy(out.data(), bytes.data(), bytes.size());
        (void)reactor_.send(conn_, std::move(out));
    }
    /// Sends one encoded message (piece_block: header and its data).
    void send(const wire::peer_message& m) {
        std::vector<std::uint8_t> out(wire::encoded_size(m));
        auto n = wire::encode(m, out);
        EXPECT_TRUE(n);
        out.resize(*n);
        if (const auto* pb = std::get_if<wire::piece_block>(&m)) {
            out.insert(out.end(), pb->data.begin(), pb->data.end());
        }
        send_bytes(out);
    }

    [[nodiscard]] bool handshaken() const { return handshaken_; }
    [[nodiscard]] bool closed() const { return closed_; }
    [[nodiscard]] const wire::peer_id& id() const { return id_; }
    /// Messages received after the handshake (piece data spans are not kept).
    std::vector<wire::message_id> kinds;
    /// Called for each message after the handshake.
    std::function<void(raw_peer&, const wire::peer_message&)> on_message;

private:
    void on_data(std::span<const std::byte> b) {
        decoder_.feed({reinterpret_cast<const std::uint8_t*>(b.data()), b.size()});
        for (int i = 0; i < 100000; ++i) {
            auto m = decoder_.next();
            if (!m || !*m) return;
            if (std::holds_alternative<wire::handshake>(**m)) {
                handshaken_ = true;
                continue;
            }
            if (on_message) on_message(*this, **m);
        }
    }

    static inline int next_id_ = 0;
    io::reactor& reactor_;
    wire::peer_decoder decoder_;
    wire::peer_id id_;
    io::conn_id conn_{};
    bool connected_ = false;
    bool handshaken_ = false;
    bool closed_ = false;
    io::scope scope_{reactor_};  ///< last member: its callbacks go quiet before the rest dies
};

/// A back-end parameterised fixture: one reactor shared by every peer of the test.
class SwarmTest : public ::testing::TestWithParam<io::backend_kind> {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == io::backend_kind::uring && !io::uring_available()) {
            MINIBIT_SKIP_OR_FAIL("io_uring is not available on this machine");
        }
        auto r = io::make_reactor(GetParam(), {});
        ASSERT_TRUE(r) << r.error().message();
        reactor_ = std::move(*r);
    }
    void TearDown() override {
        sessions_.clear();
        if (reactor_) {
            for (int i = 0; i < 20; ++i) (void)reactor_->run_once(std::chrono::milliseconds(1));
        }
    }
    /// A session on the test reactor with its data in `folder`.
    session& add(const metainfo& m, const fs::path& folder,
                 session_options o = loopback_options()) {
        auto s = session::open(*reactor_, m, folder, std::move(o));
        EXPECT_TRUE(s) << s.error().message();
        sessions_.push_back(std::move(*s));
        return *sessions_.back();
    }
    static io::address at(const session& s) { return io::address::loopback_v4(s.port()); }

    temp_dir dir_;
    std::unique_ptr<io::reactor> reactor_;
    std::vector<std::unique_ptr<session>> sessions_;
};

inline std::string backend_name(const ::testing::TestParamInfo<io::backend_kind>& info) {
    return info.param == io::backend_kind::uring ? "uring" : "epoll";
}

}  // namespace minibit::swarm::testing
