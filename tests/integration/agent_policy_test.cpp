// The host agent's seeding goals, connection limits, reload, socket group and read-only
// seeding (issue 12), between real agent processes and a real minibit-tracker over their
// control sockets: a time goal and a ratio goal end seeding (state "finished", an event, kept
// across a restart), a min_seeders goal ends it once the tracker's scrape (http or udp://)
// counts enough seeders, connection limits refuse the extra peer, SIGHUP applies a new cap while a bad config
// file changes nothing, the control socket belongs to --socket-group, and complete data in
// read-only files in a read-only folder is opened O_RDONLY and served to a leecher.
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "agent_fixture.hpp"

namespace minibit::faults {
namespace {

using namespace std::string_literals;

std::string add_body(const fs::path& torrent, const std::string& extra) {
    return R"({"torrent_path":")" + torrent.string() + "\"" + extra + "}";
}

bool has_state(const agent_process& a, const info_hash& h, const std::string& state,
               std::chrono::milliseconds limit) {
    return wait_until([&] { return a.torrent(h).value("state", "") == state; }, limit, 50ms);
}

/// A field that may be null: `fallback` when missing or null.
template <class T>
T field(const json& j, const char* key, T fallback) {
    return j.contains(key) && !j[key].is_null() ? j[key].get<T>() : fallback;
}

/// How often `needle` occurs in `text`.
std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

TEST(AgentPolicy, ATimeGoalAndARatioGoalEndSeedingAndStayFinishedAfterARestart) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    torrent_set set(src, tracker.port, 2, 2U << 20U);
    const info_hash timed = set.infos[0].hash;
    const info_hash rationed = set.infos[1].hash;

    agent_process origin(dir.path, "origin", src);
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    auto events = agent::event_stream::open(origin.socket, "/v1/events?info_hash=" + timed.hex());
    ASSERT_TRUE(events.has_value());
    // An unknown field of the goal is refused and adds nothing.
    const auto bad = origin.call("POST", "/v1/torrents", "application/json",
                                 add_body(set.torrents[1], R"(,"seed":{"ratio":1,"days":2})"));
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("seed.days"), std::string::npos) << bad.body;
    EXPECT_EQ(json::parse(origin.call("GET", "/v1/torrents").body)["torrents"].size(), 0U);

    const auto added = origin.call("POST", "/v1/torrents", "application/json",
                                   add_body(set.torrents[0], R"(,"seed":{"seconds":2})"));
    ASSERT_EQ(added.status, 201) << added.body;
    EXPECT_EQ(json::parse(added.body)["seed"], json::parse(R"({"seconds":2})"));
    EXPECT_FALSE(json::parse(added.body)["seed_default"].get<bool>());
    ASSERT_EQ(origin
                  .call("POST", "/v1/torrents", "application/json",
                        add_body(set.torrents[1], R"(,"seed":{"ratio":1.0})"))
                  .status,
              201);

    // The time goal: seeding for 2 s, then "finished" with an event saying why.
    EXPECT_EQ(origin.torrent(timed).value("state", ""), "seeding");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string finished_data;
    while (finished_data.empty()) {
        auto ev = (*events)->next(deadline);
        ASSERT_TRUE(ev.has_value()) << read_all(origin.log);
        if (ev->kind == "finished") finished_data = ev->data;
    }
    EXPECT_NE(finished_data.find("seeded"), std::string::npos) << finished_data;
    const json t = origin.torrent(timed);
    EXPECT_EQ(t.value("state", ""), "finished") << t;
    EXPECT_GE(t.value("seeded_seconds", 0), 2) << t;
    EXPECT_EQ(origin.torrent(rationed).value("state", ""), "seeding");

    // The ratio goal: a leecher takes one copy (uploaded = size), then the origin stops.
    agent_process leech(dir.path, "leech", dir.path / "downloads");
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    ASSERT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[1]))
            .status,
        201);
    ASSERT_TRUE(has_state(leech, rationed, "seeding", 30s)) << read_all(leech.log);
    ASSERT_TRUE(has_state(origin, rationed, "finished", 10s))
        << origin.torrent(rationed) << read_all(origin.log);
    EXPECT_GE(origin.torrent(rationed).value("uploaded_total", 0ULL), set.infos[1].total_length);
    EXPECT_EQ(read_all(dir.path / "downloads" / "file1.bin"), read_all(set.files[1]));

    // Both stay finished (not seeding) across a restart, with their goals.
    origin.proc->signal(SIGTERM);
    ASSERT_EQ(origin.proc->wait_for(15s), 0) << read_all(origin.log);
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    EXPECT_EQ(origin.torrent(timed).value("state", ""), "finished");
    EXPECT_EQ(origin.torrent(rationed).value("state", ""), "finished");
    EXPECT_EQ(origin.torrent(rationed)["seed"], json::parse(R"({"ratio":1.0})"));
    // Resumed, it seeds again with its goal counted afresh.
    ASSERT_EQ(origin.call("POST", "/v1/torrents/" + timed.hex() + "/resume").status, 200);
    EXPECT_EQ(origin.torrent(timed).value("state", ""), "seeding");
    EXPECT_TRUE(has_state(origin, timed, "finished", 10s));
}

/// An origin agent with a min_seeders goal of 2 and a leecher agent; the torrent's only tracker
/// is the real tracker's HTTP or UDP port (`scheme` "http" or "udp").
void check_min_seeders_goal(const std::string& scheme) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path src = dir.path / "src";
    const std::string port = std::to_string(tracker.port);
    torrent_set set(
        src, tracker.port, 1, 1U << 20U,
        scheme == "udp" ? "udp://127.0.0.1:" + port : "http://127.0.0.1:" + port + "/announce");
    const info_hash hash = set.infos[0].hash;

    agent_process origin(dir.path, "origin", src);
    origin.extra = {"--seed-min-seeders", "2", "--scrape-interval", "1"};
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    const auto added = origin.call("POST", "/v1/torrents", "application/json",
                                   add_body(set.torrents[0], ""));
    ASSERT_EQ(added.status, 201) << added.body;
    EXPECT_EQ(json::parse(added.body)["seed"], json::parse(R"({"min_seeders":2})"));
    EXPECT_TRUE(json::parse(added.body)["seed_default"].get<bool>());
    // Alone, the tracker counts one seeder: it keeps seeding.
    ASSERT_TRUE(wait_until([&] { return field(origin.torrent(hash), "scrape_seeders", 0) == 1; },
                           10s, 50ms))
        << origin.torrent(hash) << read_all(origin.log);
    EXPECT_EQ(origin.torrent(hash).value("state", ""), "seeding");

    agent_process leech(dir.path, "leech", dir.path / "downloads");
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    ASSERT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    ASSERT_TRUE(has_state(leech, hash, "seeding", 30s)) << read_all(leech.log);
    ASSERT_TRUE(has_state(origin, hash, "finished", 10s))
        << origin.torrent(hash) << read_all(origin.log);
    const json t = origin.torrent(hash);
    EXPECT_EQ(field(t, "scrape_seeders", 0), 2) << t;
    EXPECT_NE(field(t, "finished_reason", ""s).find("2 seeders"), std::string::npos) << t;
}

TEST(AgentPolicy, AMinSeedersGoalEndsSeedingOnceTheTrackersScrapeCountsEnoughSeeders) {
    check_min_seeders_goal("http");
}

TEST(AgentPolicy, AMinSeedersGoalScrapesATorrentWhoseOnlyTrackerIsUdp) {
    check_min_seeders_goal("udp");
}

/// An origin seeding `set`'s first torrent with `flags`, and two leecher agents fetching it.
struct limited_swarm {
    agent_process origin, leech_a, leech_b;
    limited_swarm(const fs::path& dir, const std::string& name, const torrent_set& set,
                  std::vector<std::string> flags, const std::string& add_extra)
        : origin(dir, name + "-origin", dir / "src"),
          leech_a(dir, name + "-a", dir / (name + "-a")),
          leech_b(dir, name + "-b", dir / (name + "-b")) {
        origin.extra = std::move(flags);
        origin.extra.insert(origin.extra.end(), {"--max-upload", "128KiB"});  // keeps them busy
        EXPECT_TRUE(origin.start()) << read_all(origin.log);
        EXPECT_EQ(origin
                      .call("POST", "/v1/torrents", "application/json",
                            add_body(set.torrents[0], add_extra))
                      .status,
                  201);
        for (auto* l : {&leech_a, &leech_b}) {
            EXPECT_TRUE(l->start()) << read_all(l->log);
            EXPECT_EQ(l->call("POST", "/v1/torrents", "application/x-bittorrent",
                              read_all(set.torrents[0]))
                          .status,
                      201);
        }
    }
    /// The most peers the origin's torrent had over `window`, sampled.
    [[nodiscard]] std::uint32_t most_peers(const info_hash& h,
                                           std::chrono::milliseconds window) const {
        std::uint32_t most = 0;
        const auto end = std::chrono::steady_clock::now() + window;
        while (std::chrono::steady_clock::now() < end) {
            most = std::max(most, origin.torrent(h).value("peers", 0U));
            std::this_thread::sleep_for(50ms);
        }
        return most;
    }
};

TEST(AgentPolicy, ConnectionLimitsRefuseTheExtraPeerGloballyAndPerTorrent) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    torrent_set set(dir.path / "src", tracker.port, 1, 4U << 20U);
    const info_hash hash = set.infos[0].hash;
    for (const auto& [name, flags, extra] :
         {std::tuple{"global"s, std::vector<std::string>{"--max-connections", "1"}, ""s},
          std::tuple{"torrent"s, std::vector<std::string>{}, R"(,"max_connections":1)"s}}) {
        SCOPED_TRACE(name);
        limited_swarm s(dir.path, name, set, flags, extra);
        // Both leechers find the origin through the tracker; it keeps exactly one of them.
        ASSERT_TRUE(
            wait_until([&] { return s.origin.torrent(hash).value("peers", 0) == 1; }, 15s, 50ms))
            << read_all(s.origin.log);
        EXPECT_EQ(s.most_peers(hash, 3s), 1U);
        const json st = json::parse(s.origin.call("GET", "/v1/status").body);
        EXPECT_GT(st.value("refused_for_limit", 0), 0) << st;
        EXPECT_LE(st.value("connections", 99), 1) << st;
        if (name == "global") {
            EXPECT_EQ(st["limits"].value("max_connections", 0), 1) << st;
        } else {
            EXPECT_EQ(s.origin.torrent(hash).value("max_connections", 0), 1);
        }
        const auto metrics = s.origin.call("GET", "/metrics").body;
        EXPECT_NE(metrics.find("minibit_agent_limit_refused_connections_total"), std::string::npos);
    }
}

TEST(AgentPolicy, SighupAppliesANewCapAndABadConfigChangesNothing) {
    temp_dir dir;
    const fs::path config = dir.path / "agent.toml";
    const auto write_config = [&](const std::string& body) {
        std::ofstream(config) << "[agent]\n" << body;
    };
    write_config("max-upload = \"1MiB\"\n");
    agent_process a(dir.path, "agent", dir.path / "downloads");
    a.extra = {"--config", config.string()};
    ASSERT_TRUE(a.start()) << read_all(a.log);
    const auto limits = [&] { return json::parse(a.call("GET", "/v1/status").body)["limits"]; };
    EXPECT_EQ(limits().value("max_upload", 0ULL), 1U << 20U);

    write_config("max-upload = \"3MiB\"\nmax-connections = 7\nseed-ratio = 2.5\nio = \"epoll\"\n");
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(
        wait_until([&] { return limits().value("max_upload", 0ULL) == 3U << 20U; }, 5s, 50ms))
        << read_all(a.log);
    EXPECT_EQ(limits().value("max_connections", 0), 7);
    // The I/O back end takes a restart: said once, even after a second reload.
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(read_all(a.log), "reloaded the settings") == 2; },
                           5s, 50ms));
    EXPECT_EQ(count_of(read_all(a.log), "io changed: needs a restart"), 1U) << read_all(a.log);

    for (const auto& broken : {"max-upload = \"fast\"\n"s, "max-uplaod = 5\n"s,
                               "max-upload = \"5MiB\"\nwatch = \"/no/such/folder\"\n"s}) {
        write_config(broken);
        const auto refused = count_of(read_all(a.log), "reload refused");
        a.proc->signal(SIGHUP);
        ASSERT_TRUE(wait_until(
            [&] { return count_of(read_all(a.log), "reload refused") == refused + 1; }, 5s, 50ms))
            << broken << read_all(a.log);
        EXPECT_EQ(limits().value("max_upload", 0ULL), 3U << 20U) << broken;
        EXPECT_EQ(limits().value("max_connections", 0), 7) << broken;
        EXPECT_TRUE(a.proc->running());
    }
}

TEST(AgentPolicy, TheControlSocketBelongsToTheSocketGroup) {
    temp_dir dir;
    // A group this process may give a file to: any group as root, its own otherwise.
    const group* g = ::geteuid() == 0 ? ::getgrnam("nogroup") : ::getgrgid(::getgid());
    ASSERT_NE(g, nullptr);
    const std::string name = g->gr_name;
    const gid_t gid = g->gr_gid;
    agent_process a(dir.path, "agent", dir.path / "downloads");
    a.extra = {"--socket-group", name};
    ASSERT_TRUE(a.start()) << read_all(a.log);
    struct stat st {};
    ASSERT_EQ(::stat(a.socket.c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, gid);
    EXPECT_EQ(st.st_mode & 0777U, 0660U);

    agent_process missing(dir.path, "missing", dir.path / "downloads");
    missing.extra = {"--socket-group", "minibit-no-such-group"};
    EXPECT_FALSE(missing.start());
    EXPECT_EQ(missing.proc->wait_for(5s), 1);
    EXPECT_NE(read_all(missing.log).find("minibit-no-such-group: no such group"), std::string::npos)
        << read_all(missing.log);
    EXPECT_FALSE(fs::exists(missing.socket));
}

/// The access mode (O_RDONLY, O_WRONLY, O_RDWR) of every descriptor of `pid` open on `file`.
std::vector<int> access_modes(pid_t pid, const fs::path& file) {
    std::vector<int> out;
    const fs::path fds = fs::path("/proc") / std::to_string(pid) / "fd";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fds, ec)) {
        if (fs::read_symlink(e.path(), ec) != file) continue;
        std::ifstream info(fs::path("/proc") / std::to_string(pid) / "fdinfo" /
                           e.path().filename());
        std::string key;
        std::string value;
        while (info >> key >> value) {
            if (key == "flags:") out.push_back(static_cast<int>(std::stoul(value, nullptr, 8) & 3));
        }
    }
    return out;
}

TEST(AgentPolicy, CompleteDataInReadOnlyFilesIsOpenedReadOnlyAndSeededToALeecher) {
    temp_dir dir;
    tracker_process tracker(free_port(), dir.path / "tracker.log", {});
    ASSERT_TRUE(tracker.ready()) << read_all(dir.path / "tracker.log");
    const fs::path ro = dir.path / "ro";
    torrent_set set(ro, tracker.port, 1, 2U << 20U);
    const info_hash hash = set.infos[0].hash;
    fs::permissions(set.files[0], fs::perms(0444));
    fs::permissions(ro, fs::perms(0555));

    agent_process origin(dir.path, "origin", ro);
    ASSERT_TRUE(origin.start()) << read_all(origin.log);
    const auto added = origin.call("POST", "/v1/torrents", "application/x-bittorrent",
                                   read_all(set.torrents[0]));
    ASSERT_EQ(added.status, 201) << added.body;
    EXPECT_EQ(json::parse(added.body).value("state", ""), "seeding") << added.body;
    EXPECT_TRUE(json::parse(added.body).value("read_only", false)) << added.body;
    const auto modes = access_modes(origin.proc->pid(), fs::canonical(set.files[0]));
    ASSERT_FALSE(modes.empty());
    for (const int m : modes) EXPECT_EQ(m, O_RDONLY);

    agent_process leech(dir.path, "leech", dir.path / "downloads");
    ASSERT_TRUE(leech.start()) << read_all(leech.log);
    ASSERT_EQ(
        leech.call("POST", "/v1/torrents", "application/x-bittorrent", read_all(set.torrents[0]))
            .status,
        201);
    ASSERT_TRUE(has_state(leech, hash, "seeding", 30s)) << read_all(leech.log);
    EXPECT_EQ(read_all(dir.path / "downloads" / "file0.bin"), read_all(set.files[0]));
    EXPECT_FALSE(leech.torrent(hash).value("read_only", true));  // it was written this run
    fs::permissions(ro, fs::perms(0755));
}

}  // namespace
}  // namespace minibit::faults
