// Where minibit-peer puts and looks for a multi-file torrent's files, with the real program:
// BEP 3 makes `name` the top folder, so `get -o DIR` writes DIR/<name>/<path...> (as libtorrent,
// Transmission and aria2 do) and `seed` takes the folder holding <name>/ or <name>/ itself. A
// seed given a folder without the data is refused with one line that says where the files
// belong (also when they lie flat in it, where MiniBit once put them), changing nothing; a get
// beside such a flat copy says so and downloads into <name>/. Every transfer runs on 127.0.0.1.
#include <map>
#include <set>

#include "fault_fixture.hpp"

namespace minibit::faults {
namespace {

// The torrent's files below its top folder "album", and their sizes (pieces span files).
const std::map<std::string, std::size_t> album_files = {
    {"a.bin", 100'001}, {"sub/b.bin", 70'000}, {"sub/empty.txt", 0}};

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The names directly in `dir`.
std::set<std::string> names_in(const fs::path& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.insert(e.path().filename());
    return out;
}

class PeerLayout : public ::testing::Test {
protected:
    void SetUp() override {
        write_album(dir_.path / "src" / "album", 1);
        const auto made = run_output(
            {peer_, "create", (dir_.path / "src" / "album").string(), "--piece-size", "16384",
             "--tracker", "http://127.0.0.1:1/announce", "-o", torrent_.string()},
            dir_.path / "create.log");
        ASSERT_TRUE(made.has_value()) << read_all(dir_.path / "create.log");
    }

    /// The album's files below `top` (their bytes depend on `seed`).
    static void write_album(const fs::path& top, unsigned seed) {
        std::mt19937_64 rng(seed);
        for (const auto& [rel, size] : album_files) {
            fs::create_directories((top / rel).parent_path());
            std::string bytes(size, '\0');
            for (auto& c : bytes) c = static_cast<char>(rng());
            std::ofstream(top / rel, std::ios::binary) << bytes;
        }
    }

    /// `seed TORRENT data` on 127.0.0.1:port_, for at most 60 s; null when it never listens.
    std::unique_ptr<child> start_seed(const std::string& data) {
        port_ = free_port();
        const fs::path log = dir_.path / "seed.log";
        fs::remove(log);
        auto c = std::make_unique<child>(
            std::vector<std::string>{peer_, "seed", torrent_.string(), data, "--no-tracker",
                                     "--listen", "127.0.0.1", "--port", std::to_string(port_),
                                     "--for", "60", "--state-dir", (dir_.path / "state").string()},
            log);
        const bool up = wait_until(
            [&] { return read_all(log).find("on port") != std::string::npos || !c->running(); },
            20s, 20ms);
        EXPECT_TRUE(up && c->running()) << read_all(log);
        return up && c->running() ? std::move(c) : nullptr;
    }

    /// `get -o out` from the seeder; exit status and output.
    std::pair<int, std::string> get(const fs::path& out) {
        const fs::path log = dir_.path / "get.log";
        fs::remove(log);
        child c({peer_, "get", torrent_.string(), "-o", out.string(), "--no-tracker", "--listen",
                 "127.0.0.1", "--port", "0", "--peer", "127.0.0.1:" + std::to_string(port_),
                 "--timeout", "30", "--state-dir", (dir_.path / "state").string()},
                log);
        return {c.wait_for(60s).value_or(-1), read_all(log)};
    }

    /// `seed` of data that must be refused: exit status and output.
    std::pair<int, std::string> refused_seed(const fs::path& data) {
        const fs::path log = dir_.path / "refused.log";
        fs::remove(log);
        child c({peer_, "seed", torrent_.string(), data.string(), "--no-tracker", "--listen",
                 "127.0.0.1", "--port", "0", "--for", "5"},
                log);
        return {c.wait_for(30s).value_or(-1), read_all(log)};
    }

    /// Every file of the album below `top`, with the bytes of the original.
    void expect_album_at(const fs::path& top) {
        for (const auto& [rel, size] : album_files) {
            ASSERT_TRUE(fs::is_regular_file(top / rel)) << top / rel << " is missing";
            EXPECT_EQ(read_all(top / rel), read_all(dir_.path / "src" / "album" / rel)) << rel;
        }
    }

    temp_dir dir_;
    std::string peer_ = program("MINIBIT_PEER");
    fs::path torrent_ = dir_.path / "album.torrent";
    std::uint16_t port_ = 0;
};

TEST_F(PeerLayout, GetWritesIntoDirSlashNameAndSeedTakesDirOrTheTopFolder) {
    {
        auto seeder = start_seed((dir_.path / "src").string());  // the folder holding album/
        ASSERT_NE(seeder, nullptr);
        const auto [st, out] = get(dir_.path / "got");
        EXPECT_EQ(st, 0) << out;
        seeder->signal(SIGTERM);
        EXPECT_EQ(seeder->wait_for(10s), 0);
    }
    expect_album_at(dir_.path / "got" / "album");
    // Nothing beside the top folder but the hidden resume file.
    EXPECT_EQ(names_in(dir_.path / "got"),
              (std::set<std::string>{".album.minibit-resume", "album"}));

    auto seeder = start_seed((dir_.path / "got" / "album").string() + "/");  // the top folder
    ASSERT_NE(seeder, nullptr);
    const auto [st, out] = get(dir_.path / "again");
    EXPECT_EQ(st, 0) << out;
    expect_album_at(dir_.path / "again" / "album");
    seeder->signal(SIGTERM);
    EXPECT_EQ(seeder->wait_for(10s), 0);
}

TEST_F(PeerLayout, SeedOfAFolderWithoutTheTopFolderIsRefusedWithWhereTheFilesBelong) {
    const fs::path empty = dir_.path / "empty";
    fs::create_directories(empty);
    const auto [st, out] = refused_seed(empty);
    EXPECT_EQ(st, 1) << out;
    EXPECT_NE(out.find((empty / "album" / "a.bin").string() + " is missing"), std::string::npos)
        << out;
    EXPECT_NE(out.find("the torrent's top folder 'album'"), std::string::npos) << out;

    // The layout of old: the files straight in the folder. Refused, nothing moved or created.
    const fs::path flat = dir_.path / "flat";
    write_album(flat, 1);
    const auto before = names_in(flat);
    const auto [fst, fout] = refused_seed(flat);
    EXPECT_EQ(fst, 1) << fout;
    EXPECT_NE(fout.find("lie directly in " + flat.string()), std::string::npos) << fout;
    EXPECT_NE(fout.find((flat / "album").string() + "/"), std::string::npos) << fout;
    EXPECT_NE(fout.find("move them there"), std::string::npos) << fout;
    EXPECT_EQ(names_in(flat), before);
}

TEST_F(PeerLayout, GetBesideAFlatCopySaysSoAndDownloadsIntoTheTopFolder) {
    const fs::path flat = dir_.path / "flat";
    write_album(flat, 1);
    auto seeder = start_seed((dir_.path / "src" / "album").string());
    ASSERT_NE(seeder, nullptr);
    const auto [st, out] = get(flat);
    EXPECT_EQ(st, 0) << out;
    EXPECT_NE(out.find("note: the files of album lie directly in " + flat.string()),
              std::string::npos)
        << out;
    expect_album_at(flat / "album");
    expect_album_at(flat);  // the flat copy is left as it was
    seeder->signal(SIGTERM);
    EXPECT_EQ(seeder->wait_for(10s), 0);
}

}  // namespace
}  // namespace minibit::faults
