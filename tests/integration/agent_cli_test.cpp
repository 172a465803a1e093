// The host agent's verbs and settings as a deploy script meets them (issue 12): `remove
// --delete-data` and `DELETE ?delete_data=1` delete the files of that torrent (a folder
// torrent's in DATA_DIR/<name>/, and that folder once empty) and nothing else beside them, never
// through a symbolic link; `wait --timeout` exits 1 on a timeout and for an unknown torrent, 0 for a complete
// one; status, list, pause and resume print and change what they say; every flag of
// `minibit-peer agent` can be set in its --config file. Real minibit-peer agent and CLI
// processes over the agent's Unix socket.
#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "agent_fixture.hpp"

namespace minibit::faults {
namespace {

bool seeding(const agent_process& a, const info_hash& h) {
    return a.torrent(h).value("state", "") == "seeding";
}

/// A folder torrent of `top` (a.bin, sub/b.bin) written to `torrent`.
std::optional<metainfo> make_folder_torrent(const fs::path& top, const fs::path& torrent,
                                            unsigned seed) {
    fs::create_directories(top / "sub");
    write_random(top / "a.bin", 40000, seed);
    write_random(top / "sub" / "b.bin", 30000, seed + 1);
    const fs::path log = torrent.string() + ".log";
    if (!run_output({program("MINIBIT_PEER"), "create", top.string(), "--tracker",
                     "http://127.0.0.1:1/announce", "-o", torrent.string()},
                    log)) {
        ADD_FAILURE() << read_all(log);
        return std::nullopt;
    }
    auto info = load_metainfo(torrent);
    if (!info) return std::nullopt;
    return std::move(*info);
}

TEST(AgentCli, DeleteDataRemovesThatTorrentsFilesAndNothingElse) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    torrent_set set(src, free_port(), 2, 64U << 10U);
    // Folder torrents live in DATA_DIR/<name>/ (BEP 3). album: album/sub/notes.txt comes after,
    // so album/ and album/sub/ stay; solo: nothing else, so solo/ goes with its files.
    const fs::path album = src / "album";
    const fs::path solo = src / "solo";
    const auto album_info = make_folder_torrent(album, dir.path / "album.torrent", 7);
    const auto solo_info = make_folder_torrent(solo, dir.path / "solo.torrent", 9);
    ASSERT_TRUE(album_info && solo_info);
    EXPECT_EQ(album_info->files[0].path, fs::path("album/a.bin"));
    std::ofstream(album / "sub" / "notes.txt") << "not part of any torrent\n";
    std::ofstream(src / "keep.txt") << "not part of any torrent\n";

    agent_process a(dir.path, "agent", src);
    ASSERT_TRUE(a.start()) << read_all(a.log);
    for (const auto& t : set.torrents) {
        auto [st, out] = a.cli({"add", t.string()});
        ASSERT_EQ(st, 0) << out;
    }
    // The agent's data folder of a folder torrent is the one holding its top folder.
    auto [ast, aout] = a.cli({"add", (dir.path / "album.torrent").string(), "-o", src.string()});
    ASSERT_EQ(ast, 0) << aout;
    auto [sst, sout] = a.cli({"add", (dir.path / "solo.torrent").string()});
    ASSERT_EQ(sst, 0) << sout;
    const std::vector<info_hash> hashes = {set.infos[0].hash, set.infos[1].hash, album_info->hash,
                                           solo_info->hash};
    for (const auto& h : hashes) {
        ASSERT_TRUE(wait_until([&] { return seeding(a, h); }, 20s, 50ms)) << a.torrent(h);
    }
    EXPECT_EQ(a.torrent(album_info->hash).value("content_path", ""), album.string());

    // The folder torrent through the CLI: its two files go, the folders keep what is not its.
    auto [st, out] = a.cli({"remove", album_info->hash.hex(), "--delete-data"});
    EXPECT_EQ(st, 0) << out;
    EXPECT_FALSE(fs::exists(album / "a.bin"));
    EXPECT_FALSE(fs::exists(album / "sub" / "b.bin"));
    EXPECT_EQ(read_all(album / "sub" / "notes.txt"), "not part of any torrent\n");
    EXPECT_EQ(a.call("GET", "/v1/torrents/" + album_info->hash.hex()).status, 404);
    // The other folder torrent: its top folder goes too, the download folder stays.
    auto [rst, rout] = a.cli({"remove", solo_info->hash.hex(), "--delete-data"});
    EXPECT_EQ(rst, 0) << rout;
    EXPECT_FALSE(fs::exists(solo));
    EXPECT_TRUE(fs::is_directory(src));

    // Torrent 0 through the API: its file goes; torrent 1, its file and the rest stay.
    const auto r = a.call("DELETE", "/v1/torrents/" + set.infos[0].hash.hex() + "?delete_data=1");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(fs::exists(set.files[0]));
    EXPECT_EQ(read_all(set.files[1]).size(), 64U << 10U);
    EXPECT_TRUE(seeding(a, set.infos[1].hash)) << a.torrent(set.infos[1].hash);
    EXPECT_TRUE(fs::exists(set.torrents[0])) << "the .torrent file is not the torrent's data";
    EXPECT_TRUE(fs::exists(src / "keep.txt"));
    const json list = json::parse(a.call("GET", "/v1/torrents").body);
    ASSERT_EQ(list["torrents"].size(), 1U) << list;
    EXPECT_EQ(list["torrents"][0].value("info_hash", ""), set.infos[1].hash.hex());
}

// A folder torrent whose top folder is a symbolic link to a folder outside the download
// folder: the agent may serve through it, but delete_data removes nothing behind it.
TEST(AgentCli, DeleteDataFollowsNoLinkToTheTopFolder) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    const fs::path outside = dir.path / "outside" / "linked";
    const auto info = make_folder_torrent(outside, dir.path / "linked.torrent", 11);
    ASSERT_TRUE(info);
    fs::create_directories(src);
    fs::create_directory_symlink(outside, src / "linked");
    agent_process a(dir.path, "agent", src);
    ASSERT_TRUE(a.start()) << read_all(a.log);
    auto [ast, aout] = a.cli({"add", (dir.path / "linked.torrent").string()});
    ASSERT_EQ(ast, 0) << aout;
    auto [st, out] = a.cli({"remove", info->hash.hex(), "--delete-data"});
    EXPECT_EQ(st, 0) << out;
    EXPECT_EQ(read_all(outside / "a.bin").size(), 40000U);
    EXPECT_EQ(read_all(outside / "sub" / "b.bin").size(), 30000U);
    EXPECT_TRUE(fs::is_symlink(src / "linked")) << "the link itself is not the torrent's";
}

TEST(AgentCli, StatusListPauseAndResumePrintTheAgentsView) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    torrent_set set(src, free_port(), 2, 64U << 10U);
    agent_process a(dir.path, "agent", src);
    ASSERT_TRUE(a.start()) << read_all(a.log);
    for (const auto& t : set.torrents) {
        auto [st, out] = a.cli({"add", t.string()});
        ASSERT_EQ(st, 0) << out;
    }
    const std::string hex = set.infos[1].hash.hex();
    ASSERT_TRUE(wait_until([&] { return seeding(a, set.infos[1].hash); }, 20s, 50ms));

    auto [pst, pout] = a.cli({"pause", hex});
    EXPECT_EQ(pst, 0) << pout;
    EXPECT_EQ(pout, hex + " paused\n");
    EXPECT_EQ(a.torrent(set.infos[1].hash).value("state", ""), "paused");
    auto [sst, sout] = a.cli({"status", hex});
    EXPECT_EQ(sst, 0) << sout;
    EXPECT_NE(sout.find("state: paused\n"), std::string::npos) << sout;
    EXPECT_NE(sout.find("info_hash: " + hex + "\n"), std::string::npos) << sout;
    auto [jst, jout] = a.cli({"status", hex, "--json"});
    EXPECT_EQ(jst, 0) << jout;
    const json one = json::parse(jout, nullptr, false);
    EXPECT_EQ(one.is_object() ? one.value("state", "") : "", "paused") << jout;

    auto [rst, rout] = a.cli({"resume", hex});
    EXPECT_EQ(rst, 0) << rout;
    EXPECT_TRUE(wait_until([&] { return seeding(a, set.infos[1].hash); }, 20s, 50ms));
    auto [lst, lout] = a.cli({"list", "--json"});
    EXPECT_EQ(lst, 0) << lout;
    const json list = json::parse(lout, nullptr, false);
    ASSERT_TRUE(list.is_object() && list.contains("torrents")) << lout;
    EXPECT_EQ(list["torrents"].size(), 2U) << lout;
    // A verb on a torrent the agent does not hold: one line, exit 1.
    auto [ust, uout] = a.cli({"pause", std::string(40, 'd')});
    EXPECT_EQ(ust, 1) << uout;
    EXPECT_EQ(std::count(uout.begin(), uout.end(), '\n'), 1) << uout;
}

TEST(AgentCli, WaitExitsOneOnATimeoutAndForAnUnknownTorrentAndZeroWhenComplete) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    // Announced to a port nobody listens on: the download can never start.
    torrent_set set(src, free_port(), 2, 64U << 10U);
    agent_process a(dir.path, "agent", dir.path / "downloads");
    ASSERT_TRUE(a.start()) << read_all(a.log);
    auto [st0, out0] = a.cli({"add", set.torrents[0].string()});
    ASSERT_EQ(st0, 0) << out0;

    const auto started = std::chrono::steady_clock::now();
    auto [st, out] = a.cli({"wait", set.infos[0].hash.hex(), "--timeout", "1"});
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(st, 1) << out;
    EXPECT_NE(out.find("timeout"), std::string::npos) << out;
    EXPECT_GE(took, 1s);
    EXPECT_LT(took, 30s);
    EXPECT_EQ(a.torrent(set.infos[0].hash).value("state", ""), "downloading") << "wait changes "
                                                                                 "nothing";

    auto [ust, uout] = a.cli({"wait", std::string(40, 'c'), "--timeout", "5"});
    EXPECT_EQ(ust, 1) << uout;
    EXPECT_NE(uout.find("404"), std::string::npos) << uout;

    // The second torrent's data is in place: wait answers 0 once it is verified.
    const json body = {{"torrent_path", set.torrents[1].string()}, {"data_dir", src.string()}};
    agent_process b(dir.path, "seeder", src);
    ASSERT_TRUE(b.start()) << read_all(b.log);
    ASSERT_EQ(b.call("POST", "/v1/torrents", "application/json", body.dump()).status, 201);
    auto [cst, cout] = b.cli({"wait", set.infos[1].hash.hex(), "--timeout", "30"});
    EXPECT_EQ(cst, 0) << cout;
}

/// The value each agent flag gets in the test's config file (none of them a default).
const std::map<std::string, std::string>& config_values() {
    static const std::map<std::string, std::string> values = {
        {"state-dir", "\"/srv/agent/state\""},
        {"download-dir", "\"/srv/agent/data\""},
        {"socket", "\"/srv/agent/agent.sock\""},
        {"watch", "\"/srv/agent/watch\""},
        {"listen", "\"127.0.0.1:7881\""},
        {"io", "\"epoll\""},
        {"threads", "3"},
        {"hashing-threads", "2"},
        {"rechoke-interval", "2.5"},
        {"max-upload", "\"4MiB\""},
        {"max-download", "\"3MiB\""},
        {"api", "\"127.0.0.1:7882\""},
        {"api-token-file", "\"/srv/agent/token\""},
        {"metrics", "\"127.0.0.1:7883\""},
        {"max-connections", "99"},
        {"max-connections-per-torrent", "7"},
        {"seed-seconds", "3600"},
        {"seed-ratio", "1.5"},
        {"seed-min-seeders", "4"},
        {"scrape-interval", "30"},
        {"socket-group", "\"minibit\""},
        {"log-level", "\"debug\""},
    };
    return values;
}

TEST(AgentCli, EveryAgentFlagCanBeSetInTheConfigFile) {
    temp_dir dir;
    const auto help = run_output({program("MINIBIT_PEER"), "agent", "--help"},
                                 dir.path / "help.txt");
    ASSERT_TRUE(help.has_value());
    std::set<std::string> flags;
    const std::regex flag_line(R"(^  (?:-\w,)?--([a-z][a-z0-9-]*))");
    std::istringstream lines(*help);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_search(line, m, flag_line) && m[1] != "help") flags.insert(m[1]);
    }
    ASSERT_GE(flags.size(), 20U) << *help;
    std::string config = "[agent]\n";
    for (const auto& f : flags) {
        const auto v = config_values().find(f);
        ASSERT_NE(v, config_values().end()) << "--" << f << " has no value in this test: add one";
        config += f + " = " + v->second + "\n";
    }
    const fs::path file = dir.path / "agent.toml";
    std::ofstream(file) << config;
    const auto printed = run_output(
        {program("MINIBIT_PEER"), "agent", "--config", file.string(), "--print-config"},
        dir.path / "printed.toml");
    ASSERT_TRUE(printed.has_value()) << read_all(dir.path / "printed.toml");
    for (const auto& f : flags) {
        const std::string line = "\n" + f + " = " + config_values().at(f) + "\n";
        EXPECT_NE(printed->find(line), std::string::npos) << "--" << f << " from the file\n"
                                                          << *printed;
    }
    // A key the agent does not know is a usage error, not ignored.
    std::ofstream(file) << config << "max-uplaod = 5\n";
    child bad({program("MINIBIT_PEER"), "agent", "--config", file.string(), "--print-config"},
              dir.path / "bad.txt");
    EXPECT_EQ(bad.wait_for(30s), 2) << read_all(dir.path / "bad.txt");
}

}  // namespace
}  // namespace minibit::faults
