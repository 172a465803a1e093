// The torrent seam's test double: a peer_host that records what its connections tell it and
// hands out the blocks a test lines up, over a real piece store of a small torrent written into
// a temp folder (complete for a seed host, empty for a leecher host), plus the far end of one
// connection: a plain socket the test speaks the peer protocol on, and a decoder that turns what
// the connection sent into one line per message ("request 1:16384+16384").
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "minibit/core/metainfo.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/peer_connection.hpp"
#include "minibit/swarm/peer_host.hpp"
#include "minibit/wire/peer_decoder.hpp"

namespace minibit::swarm::testing {

namespace fs = std::filesystem;

/// A folder under the temp directory, removed at the end.
struct temp_folder {
    fs::path path;
    temp_folder() {
        std::string pattern = (fs::temp_directory_path() / "minibit-peer-XXXXXX").string();
        if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
    }
    ~temp_folder() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;
};

/// 4 pieces of 32 KiB (2 blocks each) of deterministic bytes.
inline constexpr std::uint32_t test_pieces = 4;
inline constexpr std::uint32_t test_piece_bytes = 2 * block_size_bytes;

/// The torrent's content.
inline std::vector<std::uint8_t> test_content() {
    std::vector<std::uint8_t> out(std::size_t{test_pieces} * test_piece_bytes);
    std::uint32_t x = 12345;
    for (auto& b : out) {
        x = x * 1664525U + 1013904223U;
        b = static_cast<std::uint8_t>(x >> 24U);
    }
    return out;
}

/// The metainfo of test_content() as one file "data.bin".
inline metainfo test_metainfo() {
    const auto content = test_content();
    metainfo m;
    m.name = "data.bin";
    m.piece_length = test_piece_bytes;
    m.total_length = content.size();
    m.files.push_back(file_entry{"data.bin", content.size(), 0});
    for (std::size_t at = 0; at < content.size(); at += test_piece_bytes) {
        m.piece_hashes.push_back(sha1(std::span(content.data() + at, test_piece_bytes)));
    }
    m.hash = sha1(std::string_view("peer-connection-test"));
    return m;
}

/// One line per message: "handshake", "bitfield 1010", "request 0:16384+16384", ...
inline std::string describe(const wire::peer_message& m) {
    struct visitor {
        std::string operator()(const wire::handshake&) const { return "handshake"; }
        std::string operator()(const wire::keep_alive&) const { return "keep_alive"; }
        std::string operator()(const wire::choke&) const { return "choke"; }
        std::string operator()(const wire::unchoke&) const { return "unchoke"; }
        std::string operator()(const wire::interested&) const { return "interested"; }
        std::string operator()(const wire::not_interested&) const { return "not_interested"; }
        std::string operator()(const wire::have& h) const {
            return fmt::format("have {}", h.piece.get());
        }
        std::string operator()(const wire::have_bitfield& b) const {
            std::string bits;
            for (std::uint32_t i = 0; i < b.bits.size(); ++i) {
                bits += b.bits.test(piece_index{i}) ? '1' : '0';
            }
            return "bitfield " + bits;
        }
        static std::string block(std::string_view what, const wire::block_ref& b) {
            return fmt::format("{} {}:{}+{}", what, b.piece.get(), b.begin, b.length);
        }
        std::string operator()(const wire::request& r) const { return block("request", r.block); }
        std::string operator()(const wire::cancel& r) const { return block("cancel", r.block); }
        std::string operator()(const wire::reject_request& r) const {
            return block("reject", r.block);
        }
        std::string operator()(const wire::piece_block& p) const {
            return block("piece", {p.piece, p.begin, static_cast<std::uint32_t>(p.data.size())});
        }
        std::string operator()(const wire::have_all&) const { return "have_all"; }
        std::string operator()(const wire::have_none&) const { return "have_none"; }
        std::string operator()(const wire::extended& e) const {
            return fmt::format("extended {}", e.ext_id);
        }
        std::string operator()(const wire::port&) const { return "port"; }
        std::string operator()(const wire::suggest&) const { return "suggest"; }
        std::string operator()(const wire::allowed_fast&) const { return "allowed_fast"; }
    };
    return std::visit(visitor{}, m);
}

/// A peer_host that records the calls of its connections.
class test_host final : public peer_host {
public:
    /// A host whose store holds every piece (seed) or none.
    test_host(io::reactor& r, bool seed)
        : info_(test_metainfo()),
          context_{r, options, info_.hash, {}, bounds(), have_, counters, down, up, nullptr} {
        context_.local_id.bytes.fill('l');
        if (seed) {
            const auto content = test_content();
            std::ofstream out(folder_.path / "data.bin", std::ios::binary);
            out.write(reinterpret_cast<const char*>(content.data()),
                      static_cast<std::streamsize>(content.size()));
        }
        auto store = storage::piece_store::open(info_, folder_.path, {});
        EXPECT_TRUE(store) << store.error().message();
        if (store) context_.store = std::move(*store);
        have_ = context_.store ? context_.store->have() : bitfield(test_pieces);
    }

    [[nodiscard]] const peer_context& context() const { return context_; }
    [[nodiscard]] const metainfo& info() const { return info_; }
    [[nodiscard]] wire::torrent_bounds bounds() const {
        return {test_pieces, test_piece_bytes, test_piece_bytes};
    }
    /// Marks piece p verified (what the connection's bitfield and interest read).
    void set_have(piece_index p) { have_.set(p); }

    bool accept_handshake(peer_connection&, const wire::peer_id& id) override {
        handshakes.push_back(id);
        return accept;
    }
    void on_bitfield(peer_connection& peer, const bitfield* previous) override {
        bitfields.push_back(peer.has());
        replaced.push_back(previous != nullptr && !previous->none());
    }
    void on_have(peer_connection&, piece_index piece) override { haves.push_back(piece); }
    void on_interest_changed(peer_connection& peer) override {
        if (!peer.peer_interested()) {
            ++not_interested;
            return;
        }
        ++interested;
        if (unchoke_when_interested) peer.set_choking(false);
    }
    std::vector<wire::block_ref> next_requests(peer_connection&, std::size_t count,
                                               std::span<const wire::block_ref> avoid) override {
        asked.push_back(count);
        avoided.assign(avoid.begin(), avoid.end());
        std::vector<wire::block_ref> out;
        while (out.size() < count && !to_request.empty()) {
            out.push_back(to_request.front());
            to_request.erase(to_request.begin());
        }
        return out;
    }
    void on_block(peer_connection&, const wire::block_ref& block,
                  std::span<const std::uint8_t> data) override {
        blocks.push_back(block);
        block_data.emplace_back(data.begin(), data.end());
    }
    void on_request_dropped(peer_connection&, const wire::block_ref& block) override {
        dropped.push_back(block);
    }
    void on_serve_failed(peer_connection&, const error& e) override {
        serve_failures.push_back(e.message());
    }
    void on_closed(peer_connection&) override { ++closed; }

    torrent_options options;
    torrent_stats counters;
    rate_meter down;
    rate_meter up;
    // What the connections said.
    std::vector<wire::peer_id> handshakes;
    std::vector<bitfield> bitfields;
    std::vector<bool> replaced;  ///< per bitfield: did it replace an announced one
    std::vector<piece_index> haves;
    std::vector<std::size_t> asked;        ///< the count of each next_requests call
    std::vector<wire::block_ref> avoided;  ///< `avoid` of the last next_requests call
    std::vector<wire::block_ref> blocks;
    std::vector<std::vector<std::uint8_t>> block_data;
    std::vector<wire::block_ref> dropped;
    std::vector<std::string> serve_failures;
    int interested = 0;
    int not_interested = 0;
    int closed = 0;
    // What the test lines up.
    bool accept = true;
    bool unchoke_when_interested = false;
    std::vector<wire::block_ref> to_request;

private:
    temp_folder folder_;
    metainfo info_;
    bitfield have_{test_pieces};
    peer_context context_;
};

/// The far end of a connection: a blocking loopback socket the test writes messages to and
/// reads the connection's messages from (between reactor turns).
class far_end {
public:
    far_end(int fd, wire::torrent_bounds bounds) : fd_(fd), decoder_(bounds) {}
    ~far_end() {
        if (fd_ >= 0) ::close(fd_);
    }
    far_end(const far_end&) = delete;
    far_end& operator=(const far_end&) = delete;

    /// The bytes of one message (a piece_block with its data).
    static std::vector<std::uint8_t> bytes_of(const wire::peer_message& m) {
        std::vector<std::uint8_t> out(wire::encoded_size(m));
        auto n = wire::encode(m, out);
        EXPECT_TRUE(n);
        out.resize(n ? *n : 0);
        if (const auto* pb = std::get_if<wire::piece_block>(&m)) {
            out.insert(out.end(), pb->data.begin(), pb->data.end());
        }
        return out;
    }
    /// Writes raw bytes to the connection.
    void write(const std::vector<std::uint8_t>& bytes) {
        ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    /// Writes one message.
    void send(const wire::peer_message& m) { write(bytes_of(m)); }
    /// Reads what arrived (non-blocking) and decodes it into `lines`; notes EOF or reset.
    void read_available() {
        std::uint8_t buf[65536];
        for (int i = 0; i < 64 && !ended; ++i) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                ended = true;
                break;
            }
            if (n < 0) break;
            decoder_.feed({buf, static_cast<std::size_t>(n)});
            for (int k = 0; k < 10000; ++k) {
                auto m = decoder_.next();
                if (!m || !*m) break;
                lines.push_back(describe(**m));
                if (const auto* pb = std::get_if<wire::piece_block>(&**m)) {
                    piece_data.emplace_back(pb->data.begin(), pb->data.end());
                }
            }
        }
    }

    std::vector<std::string> lines;  ///< every message the connection sent, in order
    std::vector<std::vector<std::uint8_t>> piece_data;
    bool ended = false;  ///< the connection closed its side

private:
    int fd_;
    wire::peer_decoder decoder_;
};

}  // namespace minibit::swarm::testing
