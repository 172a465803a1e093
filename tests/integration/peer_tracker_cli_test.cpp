// minibit-peer's and minibit-tracker's command lines as a user meets them (issue 11): the real
// programs (MINIBIT_PEER, MINIBIT_TRACKER) asked for --help on themselves and every command,
// --version, usage errors, create --tracker with URLs a client cannot use, info --json read
// back with a JSON parser, config files, and --help checked against the flags the parser
// accepts, README.md and the docs (MINIBIT_SOURCE_ROOT). No swarm runs here.
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_run.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using minibit::testing::cli_run;
using minibit::testing::config_keys;
using minibit::testing::flag_at;
using minibit::testing::help_flags;
using minibit::testing::is_version_line;
using minibit::testing::lines_in;
using minibit::testing::slurp;

std::string program_path(const char* env) {
    const char* p = std::getenv(env);
    return p != nullptr ? p : "";
}

struct temp_dir : minibit::testing::temp_dir {
    temp_dir() : minibit::testing::temp_dir("minibit-cli-") {}
};

cli_run peer(const fs::path& dir, const std::vector<std::string>& args) {
    return minibit::testing::run_program(program_path("MINIBIT_PEER"), args, dir);
}

cli_run tracker(const fs::path& dir, const std::vector<std::string>& args) {
    return minibit::testing::run_program(program_path("MINIBIT_TRACKER"), args, dir);
}

// Every "--flag" named anywhere in `text`.
std::set<std::string> flags_named(const std::string& text) {
    std::set<std::string> flags;
    for (auto at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
        if (auto f = flag_at(text, at); !f.empty()) flags.insert(f);
    }
    return flags;
}

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        names.insert(fs::relative(e.path(), dir).string());
    return names;
}

const std::vector<std::string> peer_commands = {"create", "info", "get", "seed"};

// Makes dir/data (two files, one with quotes, a backslash and non-ASCII in its name).
fs::path make_data(const fs::path& dir) {
    const fs::path data = dir / "data";
    fs::create_directories(data / "sub");
    std::ofstream(data / "a.bin", std::ios::binary) << std::string(40000, 'a');
    std::ofstream(data / "sub" / "q\"uo\\te \xc3\xa9.txt", std::ios::binary)
        << std::string(70000, 'b');
    return data;
}

TEST(PeerTrackerCli, HelpWorksOnBothProgramsAndOnEveryPeerCommand) {
    temp_dir dir;
    const auto top = peer(dir.path, {"--help"});
    EXPECT_EQ(top.code, 0) << top.err;
    for (const auto& c : peer_commands) {
        EXPECT_NE(top.out.find("  " + c + " "), std::string::npos) << c << " not listed";
        for (const std::vector<std::string>& args :
             {std::vector<std::string>{c, "--help"}, {c, "-h"}, {"help", c}}) {
            const auto r = peer(dir.path, args);
            EXPECT_EQ(r.code, 0) << c << ": " << r.err;
            EXPECT_NE(r.out.find("Usage: minibit-peer " + c + " [OPTIONS]"), std::string::npos)
                << r.out;
            EXPECT_TRUE(r.err.empty()) << r.err;
        }
    }
    const auto t = tracker(dir.path, {"--help"});
    EXPECT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("Usage: minibit-tracker [OPTIONS]"), std::string::npos) << t.out;
}

TEST(PeerTrackerCli, VersionNamesTheBuildsCommitOrSaysUnknown) {
    temp_dir dir;
    for (const auto& args : {std::vector<std::string>{"--version"}, {"seed", "--version"}}) {
        const auto r = peer(dir.path, args);
        EXPECT_EQ(r.code, 0);
        EXPECT_TRUE(is_version_line(r.out, "minibit-peer")) << r.out;
    }
    const auto t = tracker(dir.path, {"--version"});
    EXPECT_EQ(t.code, 0);
    EXPECT_TRUE(is_version_line(t.out, "minibit-tracker")) << t.out;
}

TEST(PeerTrackerCli, UsageErrorIsOneLineOnStderrWithExitTwo) {
    temp_dir dir;
    const auto check = [](const cli_run& r, const std::string& program) {
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_EQ(lines_in(r.err), 1U) << r.err;
        EXPECT_TRUE(r.err.starts_with(program + ": ")) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    };
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"get", "x.torrent", "--no-such-flag"},
          {"get", "x.torrent", "--port", "65536"},
          {"get", "x.torrent", "--numwant", "-1"},
          {"get", "x.torrent", "--rechoke-interval", "0"},
          {"get", "x.torrent", "--io", "select"},
          {"get", "x.torrent", "--peer", "nohost"},
          {"get"},
          {"seed", "x.torrent"},
          {"seed", "x.torrent", "dir", "--seed-for", "5"},
          {"info"},
          {"create", "data"},
          {"no-such-command"},
          {}}) {
        check(peer(dir.path, args), "minibit-peer");
    }
    for (const std::vector<std::string>& args : {std::vector<std::string>{"--no-such-flag"},
                                                 {"--threads", "300"},
                                                 {"--interval", "ten"},
                                                 {"--http", "localhost"},
                                                 {"--http", "off", "--udp", "off"},
                                                 {"--allow-list", "a", "--deny-list", "b"},
                                                 {"--store-flush-ms", "10"}}) {
        check(tracker(dir.path, args), "minibit-tracker");
    }
}

TEST(PeerTrackerCli, CreateRefusesATrackerAClientCannotUseAndWritesNothing) {
    temp_dir dir;
    make_data(dir.path);
    const auto before = files_in(dir.path);
    for (const std::string url :
         {"notaurl", "ftp://127.0.0.1/announce", "udp://127.0.0.1", "http://", "http:///announce",
          "udp://127.0.0.1:0", "http://127.0.0.1:99999/announce", "http://a b/announce"}) {
        const auto r = peer(dir.path, {"create", "data", "--tracker", url, "-o", "out.torrent"});
        EXPECT_EQ(r.code, 2) << url << ": " << r.err;
        EXPECT_EQ(lines_in(r.err), 1U) << r.err;
        EXPECT_NE(r.err.find("--tracker"), std::string::npos) << r.err;
        EXPECT_EQ(files_in(dir.path), before) << url << " left a file behind";
    }
    for (const std::string url : {"http://127.0.0.1:6969/announce", "https://tracker.example/a",
                                  "udp://[::1]:6969", "HTTP://Example.org/announce"}) {
        const auto r = peer(dir.path, {"create", "data", "--tracker", url, "-o", "ok.torrent"});
        EXPECT_EQ(r.code, 0) << url << ": " << r.err;
    }
}

// `info --json` is one object a JSON parser reads, with what `info` prints as text; create
// --json prints the same object for the torrent it wrote.
TEST(PeerTrackerCli, InfoJsonParsesAndAgreesWithInfoAndCreateJson) {
    temp_dir dir;
    make_data(dir.path);
    const auto made = peer(
        dir.path, {"create", "data", "--tracker", "http://127.0.0.1:1/a", "--tracker",
                   "udp://127.0.0.1:2", "--piece-size", "16384", "--json", "-o", "t.torrent"});
    ASSERT_EQ(made.code, 0) << made.err;
    const auto js = peer(dir.path, {"info", "--json", "t.torrent"});
    ASSERT_EQ(js.code, 0) << js.err;
    EXPECT_EQ(made.out, js.out);
    const auto j = nlohmann::json::parse(js.out);
    const auto text = peer(dir.path, {"info", "t.torrent"});
    ASSERT_EQ(text.code, 0);
    std::map<std::string, std::string> fields;
    std::vector<std::string> trackers;
    std::vector<std::string> file_lines;
    std::istringstream in(text.out);
    for (std::string l; std::getline(in, l);) {
        if (l.starts_with("  ")) {
            file_lines.push_back(l.substr(2));
            continue;
        }
        const auto colon = l.find(": ");
        if (colon == std::string::npos) continue;
        if (l.starts_with("tracker: ")) trackers.push_back(l.substr(colon + 2));
        fields[l.substr(0, colon)] = l.substr(colon + 2);
    }
    EXPECT_EQ(j.at("name").get<std::string>(), fields["name"]);
    EXPECT_EQ(j.at("info_hash").get<std::string>(), fields["info_hash"]);
    EXPECT_EQ(std::to_string(j.at("total_size").get<std::uint64_t>()), fields["total_size"]);
    EXPECT_EQ(j.at("total_size").get<std::uint64_t>(), 110000U);
    EXPECT_EQ(std::to_string(j.at("piece_length").get<std::uint64_t>()), fields["piece_length"]);
    EXPECT_EQ(std::to_string(j.at("piece_count").get<std::uint64_t>()), fields["piece_count"]);
    EXPECT_EQ(j.at("piece_count").get<std::uint64_t>(), 7U);  // 110000 / 16384, rounded up
    const auto tiers = j.at("trackers").get<std::vector<std::vector<std::string>>>();
    ASSERT_EQ(tiers.size(), 2U);
    EXPECT_EQ(tiers[0], std::vector<std::string>{"http://127.0.0.1:1/a"});
    EXPECT_EQ(tiers[1], std::vector<std::string>{"udp://127.0.0.1:2"});
    EXPECT_EQ(trackers, (std::vector<std::string>{"http://127.0.0.1:1/a", "udp://127.0.0.1:2"}));
    ASSERT_EQ(j.at("files").size(), file_lines.size());
    for (std::size_t i = 0; i < file_lines.size(); ++i) {
        const auto& f = j.at("files")[i];
        EXPECT_EQ(std::to_string(f.at("length").get<std::uint64_t>()) + " " +
                      f.at("path").get<std::string>(),
                  file_lines[i]);
    }
    // Paths are where a download puts the files: below the torrent's name, its top folder.
    EXPECT_EQ(j.at("files")[0].at("path").get<std::string>(), "data/a.bin");
    for (const auto& f : j.at("files"))
        EXPECT_TRUE(f.at("path").get<std::string>().starts_with("data/")) << f;
    // The awkward name went through JSON escaping and came back byte for byte.
    EXPECT_NE(js.out.find(R"(q\"uo\\te)"), std::string::npos) << js.out;
    bool found = false;
    for (const auto& f : j.at("files"))
        found = found || f.at("path").get<std::string>().ends_with("q\"uo\\te \xc3\xa9.txt");
    EXPECT_TRUE(found) << js.out;
}

TEST(PeerTrackerCli, ConfigFileSetsValuesAndAnUnknownKeyIsRefused) {
    temp_dir dir;
    make_data(dir.path);
    const auto conf = dir.path / "peer.toml";
    std::ofstream(conf) << "[create]\ncomment = \"from the config\"\nprivate = true\n";
    const auto made = peer(dir.path, {"--config", conf.string(), "create", "data", "--tracker",
                                      "http://127.0.0.1:1/a", "-o", "c.torrent", "--json"});
    ASSERT_EQ(made.code, 0) << made.err;
    const auto j = nlohmann::json::parse(made.out);
    EXPECT_EQ(j.at("comment"), "from the config");
    EXPECT_EQ(j.at("private"), true);
    std::ofstream(conf) << "[get]\nprot = 7\n";
    const auto bad = peer(dir.path, {"get", "x.torrent", "--config", conf.string()});
    EXPECT_EQ(bad.code, 2);
    EXPECT_EQ(lines_in(bad.err), 1U) << bad.err;
    EXPECT_NE(bad.err.find("unknown key 'get.prot'"), std::string::npos) << bad.err;

    const auto tconf = dir.path / "tracker.toml";
    std::ofstream(tconf) << "interval = 900\nhttp = \"127.0.0.1:26969\"\n";
    const auto t = tracker(dir.path, {"--config", tconf.string(), "--print-config"});
    ASSERT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("\ninterval = 900\n"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("\nhttp = \"127.0.0.1:26969\"\n"), std::string::npos) << t.out;
    std::ofstream(tconf) << "intervall = 900\n";
    const auto tbad = tracker(dir.path, {"--config", tconf.string()});
    EXPECT_EQ(tbad.code, 2);
    EXPECT_NE(tbad.err.find("unknown key 'intervall'"), std::string::npos) << tbad.err;
    // Help and version do not depend on the file.
    EXPECT_EQ(tracker(dir.path, {"--config", tconf.string(), "--help"}).code, 0);
    EXPECT_EQ(tracker(dir.path, {"--config", tconf.string(), "--version"}).code, 0);
}

// Every file a user names for the programs to read (a config, a token, a hash or zone list, an
// --expect file, a .torrent for the agent) may turn out to be a FIFO or a device: opening a FIFO
// for reading waits for a writer, and /dev/zero never ends. Each is refused at once with one
// clear line; run_program fails the test if a program is still running after 10 s.
TEST(PeerTrackerCli, AFifoOrADeviceWhereAFileIsReadIsRefusedAtOnce) {
    temp_dir dir;
    const auto fifo = dir.path / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    constexpr auto limit = std::chrono::seconds(10);
    const std::vector<std::string> off{"--http", "127.0.0.1:0", "--udp", "off"};
    for (const std::string& f : {fifo.string(), std::string("/dev/zero")}) {
        std::vector<std::vector<std::string>> tracker_cases{
            {"--config", f},           {"--zones", f}, {"--allow-list", f}, {"--deny-list", f},
            {"--admin-token-file", f}, {"--expect", f}};
        for (auto args : tracker_cases) {
            args.insert(args.end(), off.begin(), off.end());
            const auto r = minibit::testing::run_program(program_path("MINIBIT_TRACKER"), args,
                                                         dir.path, limit);
            EXPECT_NE(r.code, 0) << args[0] << " " << f;
            EXPECT_NE(r.err.find(f + ": not a regular file"), std::string::npos) << r.err;
        }
        const std::vector<std::vector<std::string>> peer_cases{
            {"--config", f, "info", "x.torrent"},
            {"--config=" + f, "info", "x.torrent"},
            {"info", f},
            {"add", f, "--socket", (dir.path / "no-agent.sock").string()},
            {"wait", "--tracker", "http://127.0.0.1:1/announce", "--info-hash",
             std::string(40, '0'), "--complete", "1", "--token-file", f}};
        for (const auto& args : peer_cases) {
            const auto r = minibit::testing::run_program(program_path("MINIBIT_PEER"), args,
                                                         dir.path, limit);
            EXPECT_NE(r.code, 0) << args[0] << " " << f;
            EXPECT_EQ(lines_in(r.err), 1U) << r.err;
            EXPECT_NE(r.err.find(f + ": not a regular file"), std::string::npos) << r.err;
        }
    }
}

// The flag table is the parser: --print-config lists every option it reads, and --help must
// show each of them (and no flag the parser would refuse).
TEST(PeerTrackerCli, HelpListsEveryFlagTheParserAccepts) {
    temp_dir dir;
    std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases;
    for (const auto& c : peer_commands) {
        const bool transfer = c == "get" || c == "seed";
        std::vector<std::string> args{c, "x"};
        if (c == "seed") args.push_back("d");
        if (!transfer && c == "create") args.insert(args.end(), {"--tracker", "http://h/a"});
        cases.push_back({{c, "--help"}, args});
    }
    for (auto& [help_args, args] : cases) {
        const auto help = peer(dir.path, help_args);
        args.push_back("--print-config");
        const auto config = peer(dir.path, args);
        ASSERT_EQ(config.code, 0) << help_args[0] << ": " << config.err;
        const auto shown = help_flags(help.out);
        const auto accepted = config_keys(config.out);
        ASSERT_FALSE(accepted.empty()) << config.out;
        for (const auto& flag : accepted) EXPECT_TRUE(shown.contains(flag)) << flag;
        for (const auto& flag : shown) {
            if (flag == "--help") continue;
            EXPECT_TRUE(accepted.contains(flag)) << help_args[0] << " " << flag;
        }
    }
    const auto shown = help_flags(tracker(dir.path, {"--help"}).out);
    const auto accepted = config_keys(tracker(dir.path, {"--print-config"}).out);
    for (const auto& flag : accepted) EXPECT_TRUE(shown.contains(flag)) << flag;
    for (const auto& flag : shown) {
        if (flag == "--help" || flag == "--version" || flag == "--config" ||
            flag == "--print-config")
            continue;
        EXPECT_TRUE(accepted.contains(flag)) << flag;
    }
}

// README and --help agree: every flag README.md names for a program is in its --help, and
// docs/peer.md and docs/tracker.md name every flag their program's --help lists.
TEST(PeerTrackerCli, ReadmeAndDocsAgreeWithHelp) {
    const char* root = std::getenv("MINIBIT_SOURCE_ROOT");
    ASSERT_NE(root, nullptr) << "MINIBIT_SOURCE_ROOT unset";
    temp_dir dir;
    std::set<std::string> peer_help;
    for (const auto& c : peer_commands)
        peer_help.merge(help_flags(peer(dir.path, {c, "--help"}).out));
    peer_help.merge(help_flags(peer(dir.path, {"--help"}).out));
    const auto tracker_help = help_flags(tracker(dir.path, {"--help"}).out);
    std::istringstream readme(slurp(fs::path(root) / "README.md"));
    int rows = 0;
    for (std::string l; std::getline(readme, l);) {
        const bool is_peer = l.starts_with("| `build/minibit-peer`");
        const bool is_tracker = l.starts_with("| `build/minibit-tracker`");
        if (!is_peer && !is_tracker) continue;
        ++rows;
        for (const auto& flag : flags_named(l)) {
            EXPECT_TRUE((is_peer ? peer_help : tracker_help).contains(flag))
                << "README names " << flag << " but --help does not list it";
        }
    }
    EXPECT_EQ(rows, 2) << "README's program table lost a row";
    const std::string peer_doc = slurp(fs::path(root) / "docs" / "peer.md");
    const std::string tracker_doc = slurp(fs::path(root) / "docs" / "tracker.md");
    for (const auto& flag : peer_help) {
        if (flag == "--help") continue;
        EXPECT_NE(peer_doc.find("`" + flag), std::string::npos) << "docs/peer.md lacks " << flag;
    }
    for (const auto& flag : tracker_help) {
        if (flag == "--help") continue;
        EXPECT_NE(tracker_doc.find("`" + flag), std::string::npos)
            << "docs/tracker.md lacks " << flag;
    }
}

}  // namespace
