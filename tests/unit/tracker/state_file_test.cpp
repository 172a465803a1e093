// The state file codec: a table survives a write and a read (peers, roles, ages, IPv6, completed
// counts); every truncation, a flipped byte, another magic or version is refused with nothing
// delivered; the atomic write leaves no temp file and replaces the old file whole.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "minibit/tracker/state_file.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

info_hash hash_n(std::uint8_t n) {
    info_hash h;
    h.bytes.fill(n);
    return h;
}

peer_entry peer(std::uint8_t host, bool seeder, seconds age, bool v6 = false) {
    peer_entry e;
    if (v6) {
        e.peer.address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
        e.peer.address_bytes = 16;
    } else {
        e.peer.address = {10, 1, 2, host};
    }
    e.peer.port = static_cast<std::uint16_t>(6000 + host);
    e.seeder = seeder;
    e.age = age;
    return e;
}

const seconds now{500000};

/// A shard with 3 swarms: mixed roles and ages, one with an IPv6 peer, completed counts.
std::vector<std::uint8_t> sample_file() {
    static const table_config config;
    swarm_shard shard(config, 3);
    for (std::uint8_t i = 1; i <= 5; ++i) {
        EXPECT_TRUE(shard.merge(hash_n(1), peer(i, i == 1, seconds(8 * i)), now));
    }
    EXPECT_TRUE(shard.merge(hash_n(2), peer(7, false, seconds(0), true), now));
    EXPECT_TRUE(shard.merge(hash_n(3), peer(9, true, seconds(1600)), now));
    shard.add_downloaded(hash_n(1), 4);
    state_writer w(std::chrono::system_clock::now(), config.peer_timeout);
    w.add_shard(shard, now);
    EXPECT_EQ(w.peers(), 7U);
    EXPECT_EQ(w.swarms(), 3U);
    return w.finish();
}

struct seen_swarm {
    std::uint32_t downloaded = 0;
    std::vector<peer_entry> peers;
};

result<state_header> read_all(std::span<const std::uint8_t> bytes,
                              std::map<std::uint8_t, seen_swarm>& out) {
    return read_state(bytes,
                      [&](const info_hash& h, std::uint32_t dl, std::span<const peer_entry> p) {
                          out[h.bytes[0]] = seen_swarm{dl, {p.begin(), p.end()}};
                      });
}

TEST(StateFile, ATableSurvivesAWriteAndARead) {
    const auto bytes = sample_file();
    std::map<std::uint8_t, seen_swarm> got;
    const auto h = read_all(bytes, got);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->swarms, 3U);
    EXPECT_EQ(h->peers, 7U);
    EXPECT_EQ(h->peer_timeout, table_config{}.peer_timeout);
    ASSERT_EQ(got.size(), 3U);
    EXPECT_EQ(got[1].downloaded, 4U);
    ASSERT_EQ(got[1].peers.size(), 5U);
    for (const auto& e : got[1].peers) {
        const std::uint8_t host = e.peer.address[3];
        EXPECT_EQ(e.seeder, host == 1);
        EXPECT_EQ(e.peer.port, 6000 + host);
        EXPECT_NEAR(static_cast<double>(e.age.count()), 8.0 * host, 8.0);
    }
    ASSERT_EQ(got[2].peers.size(), 1U);
    EXPECT_EQ(got[2].peers[0].peer.address_bytes, 16);
    EXPECT_EQ(got[2].peers[0].peer.address[15], 7);
    ASSERT_EQ(got[3].peers.size(), 1U);
    EXPECT_TRUE(got[3].peers[0].seeder);
    EXPECT_NEAR(static_cast<double>(got[3].peers[0].age.count()), 1600.0, 8.0);
}

TEST(StateFile, AnEmptyTableIsAValidFile) {
    state_writer w(std::chrono::system_clock::now(), seconds(60));
    const auto bytes = w.finish();
    EXPECT_EQ(bytes.size(), state_header_bytes + 8);
    std::map<std::uint8_t, seen_swarm> got;
    ASSERT_TRUE(read_all(bytes, got));
    EXPECT_TRUE(got.empty());
}

TEST(StateFile, EveryTruncationIsRefusedAndDeliversNothing) {
    const auto bytes = sample_file();
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        std::map<std::uint8_t, seen_swarm> got;
        const auto h = read_all(std::span(bytes).first(n), got);
        ASSERT_FALSE(h) << "length " << n;
        EXPECT_TRUE(got.empty()) << "length " << n;
    }
}

TEST(StateFile, AFlippedByteAnywhereIsRefused) {
    const auto good = sample_file();
    for (std::size_t i = 0; i < good.size(); ++i) {
        auto bad = good;
        bad[i] ^= 0x10U;
        std::map<std::uint8_t, seen_swarm> got;
        EXPECT_FALSE(read_all(bad, got)) << "byte " << i;
        EXPECT_TRUE(got.empty());
    }
}

TEST(StateFile, NamesWhatIsWrong) {
    auto bytes = sample_file();
    std::map<std::uint8_t, seen_swarm> got;
    auto other = bytes;
    other[0] = 'X';
    auto r = read_all(other, got);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::bad_magic));
    auto newer = bytes;
    newer[8] = 2;
    r = read_all(newer, got);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::bad_version));
    EXPECT_EQ(r.error().offset, 8U);
    auto cut = std::span(bytes).first(bytes.size() - 1);
    r = read_all(cut, got);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::bad_checksum));
    const std::string text = "hello, not a state file at all, but long enough to have a header";
    r = read_all(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), got);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::bad_magic));
}

class StateFileOnDisk : public testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/minibit-state-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(StateFileOnDisk, AtomicWriteReplacesTheFileAndLeavesNoTempFile) {
    const auto path = dir_ / "swarms.state";
    std::ofstream(path) << "old contents";
    const auto bytes = sample_file();
    ASSERT_TRUE(write_file_atomically(path, bytes));
    const auto back = read_whole_file(path, 1U << 20U);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bytes);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
    EXPECT_EQ(files, 1U) << "the temp file is gone";
}

TEST_F(StateFileOnDisk, WriteIntoAMissingFolderFailsWithTheReason) {
    const auto r = write_file_atomically(dir_ / "no" / "such" / "swarms.state", sample_file());
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::io));
    EXPECT_NE(r.error().reason.find("No such file"), std::string::npos) << r.error().reason;
}

TEST_F(StateFileOnDisk, ReadRefusesMissingFoldersAndOversizedFiles) {
    EXPECT_FALSE(read_whole_file(dir_ / "missing", 100));
    EXPECT_FALSE(read_whole_file(dir_, 100)) << "a folder is not a state file";
    const auto path = dir_ / "big";
    ASSERT_TRUE(write_file_atomically(path, sample_file()));
    const auto r = read_whole_file(path, 10);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), state_errc::too_large));
}

}  // namespace
}  // namespace minibit::tracker
