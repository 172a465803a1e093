// minibit-loadgen's command line as a user meets it: the real program (MINIBIT_LOADGEN) asked
// for --help on itself and every command, --version, a usage error, config files with mistakes,
// --print-config, and --help checked against the flags the parser accepts and against
// docs/loadgen.md (MINIBIT_SOURCE_ROOT). Nothing here starts a swarm.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "loadgen_fixture.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace lg = minibit::loadgen;
using namespace std::chrono_literals;

struct cli_run {
    int code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs minibit-loadgen with `args` (stdout and stderr kept apart), at most 20 s.
cli_run run_cli(const fs::path& dir, const std::vector<std::string>& args) {
    const auto out = dir / "stdout";
    const auto err = dir / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string program = lg::testing::loadgen_program().string();
    std::vector<std::string> store{program};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(),
                                      environ);
    posix_spawn_file_actions_destroy(&actions);
    cli_run r;
    if (spawned != 0) {
        ADD_FAILURE() << "cannot run " << program;
        return r;
    }
    int status = 0;
    for (int i = 0; i < 2000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(10ms);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ADD_FAILURE() << "minibit-loadgen did not end within 20 s";
    }
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

struct temp_dir : lg::testing::test_dir {
    temp_dir() : lg::testing::test_dir("minibit-loadgen-cli-") {}
};

// The "--flag" a line starts with after `skip` (lower case, digits and dashes), or "".
std::string flag_at(const std::string& line, std::size_t skip) {
    if (line.size() < skip + 2 || line.compare(skip, 2, "--") != 0) return {};
    std::size_t end = skip + 2;
    while (end < line.size() && ((line[end] >= 'a' && line[end] <= 'z') ||
                                 (line[end] >= '0' && line[end] <= '9') || line[end] == '-'))
        ++end;
    return end > skip + 2 ? line.substr(skip, end - skip) : std::string();
}

// Every "--flag" at the start of a --help option line ("  --peers N  ...", "  -h,--help ...").
std::set<std::string> help_flags(const std::string& help) {
    std::set<std::string> flags;
    std::istringstream in(help);
    for (std::string l; std::getline(in, l);) {
        const std::size_t at = l.starts_with("  -h,") ? 5 : 2;
        if (auto f = flag_at(l, at); !f.empty()) flags.insert(f);
    }
    return flags;
}

// Every key of a --print-config file, set ("key = v") or left as a comment ("# key =").
std::set<std::string> config_keys(const std::string& toml) {
    std::set<std::string> keys;
    std::istringstream in(toml);
    for (std::string l; std::getline(in, l);) {
        if (l.starts_with("# ")) l = l.substr(2);
        const auto eq = l.find(" =");
        if (eq == std::string::npos || eq == 0) continue;
        const std::string key = "--" + l.substr(0, eq);
        if (flag_at(key, 0) == key) keys.insert(key);
    }
    return keys;
}

// "minibit-loadgen 0.1.0 (1a2b3c4d5e6f)" or "(unknown)", and a newline.
bool is_version_line(const std::string& text) {
    constexpr std::string_view prefix = "minibit-loadgen ";
    if (!text.starts_with(prefix) || !text.ends_with(")\n")) return false;
    const auto open = text.find(" (", prefix.size());
    if (open == std::string::npos) return false;
    const std::string version = text.substr(prefix.size(), open - prefix.size());
    const std::string commit = text.substr(open + 2, text.size() - open - 4);
    const bool dotted = std::count(version.begin(), version.end(), '.') == 2 &&
                        version.find_first_not_of("0123456789.") == std::string::npos;
    const bool hex = commit.size() >= 7 && commit.size() <= 40 &&
                     commit.find_first_not_of("0123456789abcdef") == std::string::npos;
    return dotted && (hex || commit == "unknown");
}

std::size_t lines_in(const std::string& text) {
    std::size_t n = 0;
    for (const char c : text) n += c == '\n' ? 1 : 0;
    return n;
}

const std::vector<std::string> commands = {"swarm", "announce", "floor"};

TEST(LoadgenCli, HelpWorksOnTheProgramAndOnEveryCommand) {
    temp_dir dir;
    const auto top = run_cli(dir.path(), {"--help"});
    EXPECT_EQ(top.code, 0) << top.err;
    EXPECT_NE(top.out.find("Usage: minibit-loadgen"), std::string::npos) << top.out;
    for (const auto& c : commands) {
        EXPECT_NE(top.out.find("  " + c + " "), std::string::npos) << c << " not listed";
        for (const std::vector<std::string>& args :
             {std::vector<std::string>{c, "--help"}, {c, "-h"}, {"help", c}}) {
            const auto r = run_cli(dir.path(), args);
            EXPECT_EQ(r.code, 0) << c << ": " << r.err;
            EXPECT_NE(r.out.find("Usage: minibit-loadgen " + c + " [OPTIONS]"), std::string::npos)
                << r.out;
            EXPECT_TRUE(r.err.empty()) << r.err;
        }
    }
}

TEST(LoadgenCli, VersionNamesTheBuildsCommitOrSaysUnknown) {
    temp_dir dir;
    const auto r = run_cli(dir.path(), {"--version"});
    EXPECT_EQ(r.code, 0);
    EXPECT_TRUE(is_version_line(r.out)) << r.out;
}

TEST(LoadgenCli, UsageErrorIsOneLineOnStderrWithExitTwo) {
    temp_dir dir;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"swarm", "--peers", "0"},
          {"swarm", "--peers", "-1"},
          {"swarm", "--peers", "ten"},
          {"swarm", "--no-such-flag"},
          {"announce", "--tracker", "ftp://127.0.0.1:1"},
          {"announce", "--tracker", "udp://127.0.0.1:1", "--concurrency", "5", "--peers", "4"},
          {"swarm", "--kill", "3", "--peers", "3"},
          {"no-such-command"},
          {}}) {
        const auto r = run_cli(dir.path(), args);
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_EQ(lines_in(r.err), 1U) << r.err;
        EXPECT_TRUE(r.err.starts_with("minibit-loadgen: ")) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    const auto range = run_cli(dir.path(), {"swarm", "--peers", "0"});
    EXPECT_NE(range.err.find("--peers: 0 is outside 1..1000"), std::string::npos) << range.err;
}

TEST(LoadgenCli, WholeNumbersAreDecimalNotOctal) {
    temp_dir dir;
    // 010 is ten: --kill 9 fits 10 peers (it would not fit 8).
    const auto r = run_cli(dir.path(),
                           {"swarm", "--peers", "010", "--kill", "9", "--print-config"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\npeers = 10\n"), std::string::npos) << r.out;
}

TEST(LoadgenCli, ConfigFileWithAnUnknownKeyIsRefusedNamingTheKey) {
    temp_dir dir;
    const auto file = dir.path() / "loadgen.toml";
    std::ofstream(file) << "[swarm]\npeers = 7\npeeers = 8\n";
    const auto r = run_cli(dir.path(), {"swarm", "--config", file.string()});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(lines_in(r.err), 1U) << r.err;
    EXPECT_NE(r.err.find("unknown key 'swarm.peeers'"), std::string::npos) << r.err;
    std::ofstream(file) << "[swarms]\npeers = 7\n";
    const auto section = run_cli(dir.path(), {"--config", file.string(), "swarm"});
    EXPECT_EQ(section.code, 2);
    EXPECT_NE(section.err.find("unknown section [swarms]"), std::string::npos) << section.err;
    // Help and version do not depend on the file.
    EXPECT_EQ(run_cli(dir.path(), {"swarm", "--config", file.string(), "--help"}).code, 0);
    EXPECT_EQ(run_cli(dir.path(), {"--config", file.string(), "--version"}).code, 0);
    const auto missing = run_cli(dir.path(), {"swarm", "--config", (dir.path() / "none").string()});
    EXPECT_EQ(missing.code, 2) << missing.err;
}

TEST(LoadgenCli, CommandLineWinsOverTheConfigFileAndPrintConfigReadsBack) {
    temp_dir dir;
    const auto file = dir.path() / "loadgen.toml";
    std::ofstream(file) << "[swarm]\npeers = 7\nmode = \"seed\"\n";
    const auto r = run_cli(dir.path(),
                           {"swarm", "--config", file.string(), "--peers", "9", "--print-config"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\npeers = 9\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nmode = \"seed\"\n"), std::string::npos) << r.out;
    const auto printed = dir.path() / "printed.toml";
    std::ofstream(printed) << r.out;
    const auto again = run_cli(dir.path(),
                               {"swarm", "--config", printed.string(), "--print-config"});
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(again.out, r.out);
}

// The flag table is the parser: --print-config lists every option it reads, and --help must
// show each of them (and no flag the parser would refuse).
TEST(LoadgenCli, HelpListsEveryFlagTheParserAccepts) {
    temp_dir dir;
    for (const auto& c : commands) {
        const auto help = run_cli(dir.path(), {c, "--help"});
        const auto config = run_cli(dir.path(), {c, "--print-config"});
        ASSERT_EQ(config.code, 0) << c << ": " << config.err;
        const auto shown = help_flags(help.out);
        const auto accepted = config_keys(config.out);
        ASSERT_FALSE(accepted.empty()) << config.out;
        for (const auto& flag : accepted) EXPECT_TRUE(shown.contains(flag)) << c << " " << flag;
        for (const auto& flag : shown) {
            if (flag == "--help" || flag == "--arg") continue;  // not settings
            EXPECT_TRUE(accepted.contains(flag)) << c << " " << flag;
        }
    }
}

// README and --help agree: docs/loadgen.md names every flag of every command.
TEST(LoadgenCli, DocsNameEveryFlagOfEveryCommand) {
    const char* root = std::getenv("MINIBIT_SOURCE_ROOT");
    if (root == nullptr) GTEST_SKIP() << "MINIBIT_SOURCE_ROOT unset";
    const std::string doc = slurp(fs::path(root) / "docs" / "loadgen.md");
    ASSERT_FALSE(doc.empty());
    temp_dir dir;
    for (const auto& c : commands) {
        for (const auto& flag : help_flags(run_cli(dir.path(), {c, "--help"}).out)) {
            if (flag == "--help") continue;
            EXPECT_NE(doc.find("`" + flag), std::string::npos) << c << " " << flag;
        }
    }
}

}  // namespace
