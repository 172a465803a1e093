// The host agent end to end (issue 12): real minibit-peer agent, seed and CLI processes, a real
// minibit-tracker, the control API over the agent's real Unix socket. An agent downloading three
// torrents (added by the CLI and by both API forms) from a seed process and from a second agent
// is SIGKILLed mid-transfer and restarted: it keeps every verified piece and ends with every
// copy identical. Every API error class is answered with its status and changes nothing.
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <iostream>

#include "agent_fixture.hpp"

namespace minibit::faults {
namespace {

std::uint32_t pieces_of(const json& t) {
    return t.value("pieces_have", 0U);
}

TEST(Agent, ThreeTorrentsSurviveASigkillMidTransferAndEndVerified) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    torrent_set set(src, tracker.port);

    // Sources: a seed process for torrent 0, an origin agent seeding torrents 1 and 2.
    child seed({program("MINIBIT_PEER"), "seed", set.torrents[0].string(), src.string(), "--port",
                "0", "--rechoke-interval", "0.2"},
               dir.path / "seed.log");
    agent_process origin(dir.path, "origin", src);
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    auto [st1, out1] = origin.cli({"add", set.torrents[1].string(), "-o", src.string()});
    ASSERT_EQ(st1, 0) << out1;
    const json by_path = {{"torrent_path", set.torrents[2].string()}};
    ASSERT_EQ(origin.call("POST", "/v1/torrents", "application/json", by_path.dump()).status, 201);
    for (int i = 1; i < 3; ++i) {
        EXPECT_EQ(origin.torrent(set.infos[i].hash).value("state", ""), "seeding");
    }

    // The downloader: its sources are frozen while it gets its three torrents.
    agent_process leech(dir.path, "leech", dir.path / "downloads");
    leech.watch = dir.path / "watch";
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    seed.signal(SIGSTOP);
    origin.proc->signal(SIGSTOP);
    auto [st0, out0] = leech.cli({"add", set.torrents[0].string()});
    ASSERT_EQ(st0, 0) << out0;
    EXPECT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[1]))
            .status,
        201);
    // The third through the watch folder (written beside it, then renamed in, as a copy should).
    fs::copy_file(set.torrents[2], leech.watch.parent_path() / "t2.part");
    fs::rename(leech.watch.parent_path() / "t2.part", leech.watch / "t2.torrent");
    EXPECT_TRUE(wait_until([&] { return !leech.torrent(set.infos[2].hash).empty(); }, 10s, 50ms))
        << read_all(leech.log);

    // Let the sources run in short bursts until the downloader holds part of the data.
    std::array<std::uint32_t, 3> have{};
    const std::uint32_t total = set.infos[0].piece_count() * 3;
    std::uint32_t sum = 0;
    for (int burst = 0; burst < 300 && sum * 4 < total; ++burst) {
        seed.signal(SIGCONT);
        origin.proc->signal(SIGCONT);
        std::this_thread::sleep_for(3ms);
        seed.signal(SIGSTOP);
        origin.proc->signal(SIGSTOP);
        std::this_thread::sleep_for(200ms);  // pieces in flight are hashed and counted
        sum = 0;
        for (int i = 0; i < 3; ++i) sum += pieces_of(leech.torrent(set.infos[i].hash));
    }
    for (int i = 0; i < 3; ++i) have[i] = pieces_of(leech.torrent(set.infos[i].hash));
    sum = have[0] + have[1] + have[2];
    std::cout << "verified before the kill: " << have[0] << " + " << have[1] << " + " << have[2]
              << " of " << total << " pieces\n";
    ASSERT_GT(sum, 0U) << read_all(leech.log);
    ASSERT_LT(sum, total) << "the transfer finished before it could be interrupted";

    leech.proc->signal(SIGKILL);
    EXPECT_EQ(leech.proc->wait_for(5s), 128 + SIGKILL);
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    std::array<std::uint64_t, 3> left_at_restart{};
    for (int i = 0; i < 3; ++i) {
        const json t = leech.torrent(set.infos[i].hash);
        EXPECT_GE(pieces_of(t), have[i]) << "torrent " << i << " lost verified pieces: " << t;
        EXPECT_EQ(t.value("bytes_downloaded", 1ULL), 0U) << "sources are still frozen";
        left_at_restart[i] = t.value("bytes_left", 0ULL);
        std::cout << "torrent " << i << " after the restart: " << pieces_of(t) << " pieces\n";
    }
    seed.signal(SIGCONT);
    origin.proc->signal(SIGCONT);
    for (int i = 0; i < 3; ++i) {
        auto [st, out] = leech.cli({"wait", set.infos[i].hash.hex(), "--timeout", "60"});
        EXPECT_EQ(st, 0) << out << read_all(leech.log);
        const json t = leech.torrent(set.infos[i].hash);
        EXPECT_EQ(t.value("state", ""), "seeding") << t;
        // Nothing verified before the kill came again (16 KiB of slack for endgame blocks).
        EXPECT_LE(t.value("bytes_downloaded", 0ULL), left_at_restart[i] + 16384) << t;
        EXPECT_EQ(read_all(leech.downloads / set.files[i].filename()), read_all(set.files[i]))
            << "copy " << i;
    }
    auto [lst, listed] = leech.cli({"list"});
    EXPECT_EQ(lst, 0);
    EXPECT_EQ(std::count(listed.begin(), listed.end(), '\n'), 3) << listed;
    // Taking the file out of the watch folder stops its torrent; the data stays.
    fs::remove(leech.watch / "t2.torrent");
    EXPECT_TRUE(wait_until([&] { return leech.torrent(set.infos[2].hash).empty(); }, 10s, 50ms));
    EXPECT_TRUE(fs::exists(leech.downloads / set.files[2].filename()));
}

TEST(Agent, EveryApiErrorIsAnsweredWithItsStatusAndChangesNothing) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    torrent_set set(src, 1);
    agent_process a(dir.path, "agent", dir.path / "downloads");
    ASSERT_TRUE(a.start()) << read_all(a.log);
    ASSERT_EQ(a.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
                  .status,
              201);
    fs::create_directories(dir.path / "outside");
    fs::create_symlink(dir.path / "outside", a.downloads / "escape");
    fs::copy_file(set.torrents[1], dir.path / "outside" / "t1.torrent");
    const std::string good_bytes = read_all(set.torrents[1]);
    const std::string data_dir_of = "/v1/torrents?data_dir=";
    struct bad_case {
        const char* what;
        std::string method, target, type, body;
        int status;
    };
    // Another torrent with a file of the same name: both would write downloads/file0.bin, each
    // overwriting the other's verified data.
    const fs::path twin = dir.path / "twin" / set.files[0].filename();
    fs::create_directories(twin.parent_path());
    write_random(twin, 1U << 16U, 99);
    const fs::path twin_torrent = dir.path / "twin.torrent";
    ASSERT_TRUE(run_output({program("MINIBIT_PEER"), "create", twin.string(), "--tracker",
                            "http://127.0.0.1:1/announce", "-o", twin_torrent.string()},
                           dir.path / "twin.log")
                    .has_value());
    const std::string twin_bytes = read_all(twin_torrent);
    ASSERT_EQ(::mkfifo((a.downloads / "pipe.torrent").c_str(), 0600), 0);
    const std::vector<bad_case> cases = {
        {"bad JSON", "POST", "/v1/torrents", "application/json", "{\"torrent_path\":", 400},
        {"JSON not an object", "POST", "/v1/torrents", "application/json", "[1]", 400},
        {"unknown field", "POST", "/v1/torrents", "application/json",
         json{{"torrent_path", (a.downloads / "x.torrent").string()}, {"sneaky", 1}}.dump(), 400},
        {"bad torrent", "POST", "/v1/torrents", "application/x-bittorrent", "d4:infoi1ee", 400},
        {"duplicate", "POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]),
         409},
        {"a file of another torrent", "POST", "/v1/torrents", "application/x-bittorrent",
         twin_bytes, 409},
        {"path outside the roots", "POST", "/v1/torrents", "application/json",
         json{{"torrent_path", (dir.path / "outside" / "t1.torrent").string()}}.dump(), 400},
        // A FIFO named like a torrent: refused at once, not read (a read would wait forever).
        {"a FIFO for a torrent", "POST", "/v1/torrents", "application/json",
         json{{"torrent_path", (a.downloads / "pipe.torrent").string()}}.dump(), 400},
        {"symlink escape", "POST", "/v1/torrents", "application/json",
         json{{"torrent_path", (a.downloads / "escape" / "t1.torrent").string()}}.dump(), 400},
        {"dot dot", "POST",
         data_dir_of + agent::url_encode((a.downloads / ".." / "outside").string()),
         "application/x-bittorrent", good_bytes, 400},
        {"data_dir through a symlink", "POST",
         data_dir_of + agent::url_encode((a.downloads / "escape").string()),
         "application/x-bittorrent", good_bytes, 400},
        {"relative path", "POST", data_dir_of + "downloads", "application/x-bittorrent", good_bytes,
         400},
        {"unknown parameter", "POST", "/v1/torrents?colour=red", "application/x-bittorrent",
         good_bytes, 400},
        {"wrong media type", "POST", "/v1/torrents", "text/plain", good_bytes, 415},
        {"oversized body", "POST", "/v1/torrents", "application/x-bittorrent",
         std::string(17U << 20U, 'x'), 413},
        {"bad hash", "GET", "/v1/torrents/xyz", "", "", 400},
        {"unknown hash", "POST", "/v1/torrents/" + std::string(40, 'a') + "/pause", "", "", 404},
        {"unknown hash delete", "DELETE", "/v1/torrents/" + std::string(40, 'b'), "", "", 404},
        {"bad delete flag", "DELETE", "/v1/torrents/" + set.infos[0].hash.hex() + "?delete_data=2",
         "", "", 400},
        {"wrong method", "PUT", "/v1/torrents", "", "", 405},
        {"unknown endpoint", "GET", "/v2/torrents", "", "", 404},
    };
    const std::string before = a.call("GET", "/v1/torrents").body;
    EXPECT_NE(a.call("POST", "/v1/torrents", "application/x-bittorrent", twin_bytes)
                  .body.find("file0.bin is a path of torrent " + set.infos[0].hash.hex()),
              std::string::npos);
    for (const auto& c : cases) {
        const auto r = a.call(c.method, c.target, c.type, c.body);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
        const auto j = json::parse(r.body, nullptr, false);
        EXPECT_TRUE(!j.is_discarded() && j.contains("error")) << c.what << ": " << r.body;
    }
    // A malformed request head: 400 from the HTTP codec, before any handler.
    {
        fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strcpy(sa.sun_path, a.socket.c_str());
        ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        const std::string junk = "GET /v1/status HTTP/1.1\nBroken\n\n";
        ASSERT_EQ(::send(fd.get(), junk.data(), junk.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(junk.size()));
        char buf[512] = {};
        const auto n = ::recv(fd.get(), buf, sizeof buf - 1, 0);
        EXPECT_GT(n, 0);
        EXPECT_TRUE(std::string(buf).starts_with("HTTP/1.1 400")) << buf;
    }
    EXPECT_EQ(a.call("GET", "/v1/torrents").body, before) << "a refused request changed the list";
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(a.state / "torrents")) ++entries;
    EXPECT_EQ(entries, 2U) << "one torrent: its .torrent and its settings";
    EXPECT_FALSE(fs::exists(dir.path / "outside" / "file1.bin"));
    EXPECT_EQ((fs::status(a.socket).permissions() & fs::perms::all),
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                  fs::perms::group_write);
}

TEST(Agent, ACorruptStateEntryIsSetAsideAndTheOthersLoad) {
    temp_dir dir;
    const fs::path src = dir.path / "src";
    torrent_set set(src, 1);
    agent_process a(dir.path, "agent", src);
    ASSERT_TRUE(a.start()) << read_all(a.log);
    for (int i = 0; i < 2; ++i) {
        const json body = {{"torrent_path", set.torrents[i].string()}};
        ASSERT_EQ(a.call("POST", "/v1/torrents", "application/json", body.dump()).status, 201);
    }
    ASSERT_EQ(a.call("POST", "/v1/torrents/" + set.infos[1].hash.hex() + "/pause").status, 200);
    a.proc->signal(SIGTERM);
    EXPECT_EQ(a.proc->wait_for(15s), 0) << read_all(a.log);
    EXPECT_FALSE(fs::exists(a.socket)) << "a clean stop removes its socket";
    const fs::path broken = a.state / "torrents" / (set.infos[0].hash.hex() + ".json");
    std::ofstream(broken, std::ios::trunc) << "{\"version\": 1, \"info_h";  // half-written
    ASSERT_TRUE(a.start()) << read_all(a.log);
    EXPECT_EQ(a.call("GET", "/v1/torrents/" + set.infos[0].hash.hex()).status, 404);
    EXPECT_EQ(a.torrent(set.infos[1].hash).value("state", ""), "paused") << "settings kept";
    EXPECT_TRUE(fs::exists(broken.string() + ".corrupt"));
    EXPECT_NE(read_all(a.log).find("set aside"), std::string::npos) << read_all(a.log);
    auto [st, out] = a.cli({"resume", set.infos[1].hash.hex()});
    EXPECT_EQ(st, 0) << out;
    EXPECT_EQ(a.torrent(set.infos[1].hash).value("state", ""), "seeding");
    auto [rst, rout] = a.cli({"remove", set.infos[1].hash.hex()});
    EXPECT_EQ(rst, 0) << rout;
    EXPECT_TRUE(fs::exists(set.files[1])) << "remove without --delete-data keeps the data";
}

TEST(Agent, AVerbWithoutAnAgentPrintsOneLineAndExitsOne) {
    temp_dir dir;
    agent_process a(dir.path, "absent", dir.path / "downloads");
    auto [st, out] = a.cli({"list"});
    EXPECT_EQ(st, 1);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find("no agent at"), std::string::npos) << out;
}

}  // namespace
}  // namespace minibit::faults
