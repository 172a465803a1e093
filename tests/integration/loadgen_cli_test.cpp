// minibit-loadgen's command line as a user meets it: the real program (MINIBIT_LOADGEN) asked
// for --help on itself and every command, --version, a usage error, config files with mistakes,
// --print-config, and --help checked against the flags the parser accepts and against
// docs/loadgen.md (MINIBIT_SOURCE_ROOT). Nothing here starts a swarm.
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

#include "cli_run.hpp"
#include "loadgen_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace lg = minibit::loadgen;
using namespace std::chrono_literals;

using minibit::testing::cli_run;
using minibit::testing::config_keys;
using minibit::testing::help_flags;
using minibit::testing::lines_in;
using minibit::testing::slurp;

// Runs minibit-loadgen with `args` in `dir`, at most 20 s.
cli_run run_cli(const fs::path& dir, const std::vector<std::string>& args) {
    return minibit::testing::run_program(lg::testing::loadgen_program(), args, dir);
}

bool is_version_line(const std::string& text) {
    return minibit::testing::is_version_line(text, "minibit-loadgen");
}

struct temp_dir : lg::testing::test_dir {
    temp_dir() : lg::testing::test_dir("minibit-loadgen-cli-") {}
};

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
          {"announce", "--tracker", "udp://127.0.0.1:1", "--arrivals", "poisson"},
          {"announce", "--tracker", "http://127.0.0.1:1/a", "--rate", "5", "--arrivals", "even"},
          {"announce", "--tracker", "udp://127.0.0.1:1", "--rate", "5", "--arrivals", "bursty"},
          {"announce", "--tracker", "http://127.0.0.1:1/a", "--sockets", "2"},
          {"announce", "--tracker", "udp://127.0.0.1:1", "--sockets", "0"},
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
