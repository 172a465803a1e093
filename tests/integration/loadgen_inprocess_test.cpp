// minibit-loadgen swarm --in-process end to end: a real minibit-tracker process and many peers
// hosted as sessions of the loadgen process (real loopback sockets, real files), on both io
// back ends. Checks what a user of the stress mode relies on: every copy identical, kills of
// peers mid-transfer survived, the tracker latency probe reported, the log naming each peer.
// The programs come from MINIBIT_LOADGEN (set by meson); the tracker is found next to it.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "loadgen_fixture.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/loadgen/child_process.hpp"
#include "minibit/loadgen/swarm_files.hpp"
#include "skip_or_fail.hpp"

namespace {

namespace lg = minibit::loadgen;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using lg::testing::last_json_line;
using lg::testing::loadgen_program;
using lg::testing::number_at;
using lg::testing::run_result;
using lg::testing::string_at;

struct temp_dir : lg::testing::test_dir {
    temp_dir() : lg::testing::test_dir("minibit-inprocess-") {}
};

run_result run_loadgen(const fs::path& dir, std::vector<std::string> args) {
    return lg::testing::run_loadgen(dir, std::move(args), 150s, 8U << 20U);
}

lg::testing::json rows_of(const lg::testing::json& doc) {
    return lg::testing::array_at(doc, "peers");
}

std::vector<std::string> inprocess_args(const fs::path& dir, const std::string& io,
                                        std::vector<std::string> extra) {
    std::vector<std::string> args = {"swarm",
                                     "--in-process",
                                     "--json",
                                     "--file",
                                     (dir / "original.txt").string(),
                                     "--out",
                                     (dir / "downloads").string(),
                                     "--logs",
                                     (dir / "logs").string(),
                                     "--io",
                                     io,
                                     "--threads",
                                     "2",
                                     "--timeout",
                                     "90"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

class LoadgenInProcess : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "uring" && !minibit::io::uring_available()) {
            MINIBIT_SKIP_OR_FAIL("io_uring is not available here");
        }
    }
};

// 150 peers, 150 pieces of a 600 KiB file dealt one per peer: every peer needs all the others'
// pieces, through the tracker's 4-peer answers, and every copy must come out identical.
TEST_P(LoadgenInProcess, ScatterSwarmOf150PeersRebuildsEveryCopy) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(), inprocess_args(dir.path(), GetParam(),
                                   {"--peers", "150", "--size", "614400", "--pieces", "150",
                                    "--rechoke-interval", "0.2", "--seed", "5"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(string_at(doc, "hosting"), "in-process");
    EXPECT_EQ(number_at(doc, "threads"), 2);
    EXPECT_EQ(number_at(doc, "peers_total"), 150);
    EXPECT_EQ(number_at(doc, "rebuilt"), 150);
    EXPECT_EQ(string_at(doc, "summary"), "150/150 files rebuilt and identical");
    const auto& rows = rows_of(doc);
    ASSERT_EQ(rows.size(), 150U);
    for (const auto& row : rows) {
        EXPECT_EQ(string_at(row, "result"), "rebuilt");
        EXPECT_EQ(string_at(row, "exit"), "exit 0");  // stopped cleanly, counters written
        EXPECT_EQ(number_at(row, "start_pieces"), 1);
        EXPECT_EQ(number_at(row, "bytes_down"), 614400 - 4096);  // all but its own piece
        EXPECT_GT(number_at(row, "connections"), 0);
        EXPECT_GE(number_at(row, "seconds_to_complete"), 0);
    }
    // The probe announced to the same tracker while the swarm ran, and got answers.
    EXPECT_GT(number_at(doc, "tracker_probe.answered"), 0);
    EXPECT_EQ(number_at(doc, "tracker_probe.errors"), 0);
    EXPECT_GT(number_at(doc, "tracker_probe.p99_ms"), 0);
    EXPECT_GE(number_at(doc, "tracker_probe.p999_ms"), number_at(doc, "tracker_probe.p99_ms"));
    EXPECT_GT(number_at(doc, "peak_fds"), 150);  // a listener per peer at least
    EXPECT_GT(number_at(doc, "max_rss_bytes"), 0);
    EXPECT_GT(number_at(doc, "peak_anon_bytes"), 0);
    EXPECT_LE(number_at(doc, "peak_anon_bytes"), number_at(doc, "max_rss_bytes"));
    // One log, every engine line tagged with the peer it belongs to.
    const auto log = lg::read_file(dir.path() / "logs" / "peers.log", 64U << 20U);
    ASSERT_TRUE(log.has_value());
    EXPECT_NE(log->find("[peer 0] "), std::string::npos);
    EXPECT_NE(log->find("[peer 149] "), std::string::npos);
    EXPECT_FALSE(fs::exists(dir.path() / "logs" / "peer-7.log"));
    EXPECT_FALSE(fs::exists(dir.path() / "downloads" / "peer-0"));  // removed on success
}

// Seed mode with 5 leechers closed abruptly mid-transfer (their sessions destroyed, as a crash
// would): the rest still rebuild identical copies; --log-per-peer gives each peer its file.
TEST_P(LoadgenInProcess, SeedSwarmSurvivesPeersClosedMidTransfer) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(),
        inprocess_args(dir.path(), GetParam(),
                       {"--peers", "60", "--mode", "seed", "--size", "4194304", "--pieces", "256",
                        "--kill", "5", "--seed", "11", "--log-per-peer", "--keep"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    const auto killed = number_at(doc, "killed");
    EXPECT_GE(killed, 1);
    EXPECT_EQ(number_at(doc, "expected"), 59 - killed);
    EXPECT_EQ(number_at(doc, "rebuilt"), 59 - killed);
    const auto original = lg::read_file(dir.path() / "original.txt", 8U << 20U);
    ASSERT_TRUE(original.has_value());
    for (const auto& row : rows_of(doc)) {
        const auto result = string_at(row, "result");
        const auto k = static_cast<int>(number_at(row, "index"));
        const auto copy = dir.path() / "downloads" / ("peer-" + std::to_string(k)) / "original.txt";
        if (result == "killed") {
            EXPECT_EQ(string_at(row, "exit"), "signal 9 (Killed)");
            EXPECT_FALSE(row.contains("messages_sent"));  // dropped: no stop, no counters
        } else {
            EXPECT_TRUE(result == "rebuilt" || result == "seeded") << result;
            EXPECT_TRUE(lg::identical_copy(*original, copy)) << k;
        }
    }
    EXPECT_TRUE(fs::exists(dir.path() / "logs" / "peer-59.log"));
    const auto log = lg::read_file(dir.path() / "logs" / "peer-59.log", 64U << 20U);
    EXPECT_NE(log.value_or("").find("listening on port"), std::string::npos);
}

// An origin (the seeder with --origin) and 8 leechers that know nothing of it: every copy comes
// out identical and the origin uploads little more than one copy, where a plain seeder serves
// whoever asks (in this swarm about 3 copies).
TEST(LoadgenInProcessOrigin, EightLeechersCompleteWhileTheOriginUploadsAboutOneCopy) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(),
        inprocess_args(dir.path(), "epoll",
                       {"--peers", "9", "--mode", "seed", "--origin", "--size", "4194304",
                        "--piece-size", "65536", "--rechoke-interval", "0.2", "--seed", "7"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "rebuilt"), 8);
    EXPECT_TRUE(doc.at("origin").get<bool>());
    const double copies = number_at(doc, "seed_upload_copies");
    EXPECT_GE(copies, 1.0);  // every piece left the origin at least once
    EXPECT_LE(copies, 1.5);
}

// With every peer's upload capped at 1 MiB/s, a seeder must send each of the 2 MiB at least
// once: the report gives the 2 s bound, what it assumes, and the run's time over it (a capped
// swarm cannot beat it by more than the limiter's 100 ms burst).
TEST(LoadgenInProcessBound, ReportGivesTheFluidBoundOfTheUploadCapsAndTheRatioToIt) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(), inprocess_args(dir.path(), "epoll",
                                   {"--peers", "4", "--mode", "seed", "--size", "2097152",
                                    "--piece-size", "65536", "--uplink-rate", "1048576",
                                    "--rechoke-interval", "0.2", "--seed", "3"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "uplink_rate"), 1048576);
    const auto& bound = doc.at("fluid_bound");
    EXPECT_DOUBLE_EQ(bound.at("seconds").get<double>(), 2.0);
    EXPECT_EQ(bound.at("binding").get<std::string>(), "seeder uplink");
    EXPECT_NE(bound.at("assumes").get<std::string>().find("1.00 MiB/s"), std::string::npos);
    const double ratio = bound.at("ratio").get<double>();
    EXPECT_NEAR(ratio, number_at(doc, "swarm_seconds") / 2.0, 0.002);
    EXPECT_GE(ratio, 0.9);
}

// Loopback has no link rate: without caps the table says there is no bound instead of
// printing a figure that would mislead.
TEST(LoadgenInProcessBound, WithoutUploadCapsTheTableSaysThereIsNoBound) {
    temp_dir dir;
    auto args = inprocess_args(dir.path(), "epoll", {"--peers", "4", "--size", "262144"});
    args.erase(std::find(args.begin(), args.end(), "--json"));
    const auto run = run_loadgen(dir.path(), args);
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    EXPECT_NE(run.out.find("fluid-model bound: none (no --uplink-rate"), std::string::npos)
        << run.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, LoadgenInProcess, ::testing::Values("uring", "epoll"),
                         [](const auto& param_info) { return param_info.param; });

TEST(LoadgenInProcessFlags, ThreadsWithoutInProcessIsAUsageError) {
    temp_dir dir;
    const auto run = run_loadgen(dir.path(), {"swarm", "--threads", "2"});
    EXPECT_EQ(run.status.code, 2);
    EXPECT_NE(run.out.find("--threads and --log-per-peer go with --in-process"), std::string::npos)
        << run.out;
}

// Defaults fit the machine: the soft open-file limit is raised to the hard one, a default
// --max-peers shrinks to what fits (one line says so), and only what cannot fit is refused,
// before anything starts. The limits are lowered on the program alone, with prlimit.
class LoadgenInProcessLimits : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(prlimit_)) MINIBIT_SKIP_OR_FAIL("needs prlimit (util-linux)");
    }
    run_result run_limited(const std::string& nofile, std::vector<std::string> extra) {
        auto args = inprocess_args(dir_.path(), "epoll",
                                   {"--peers", "20", "--size", "65536", "--pieces", "20"});
        args.insert(args.end(), extra.begin(), extra.end());
        args.insert(args.begin(), {"--nofile=" + nofile, "--", loadgen_program().string()});
        const fs::path out = dir_.path() / "loadgen.out";
        auto status = lg::run_to_end({prlimit_, std::move(args), out}, 120s);
        EXPECT_TRUE(status.has_value()) << (status ? "" : status.error().message());
        return {status.value_or(lg::exit_status{}), lg::read_file(out, 1U << 20U).value_or("")};
    }
    std::size_t lines_with(const std::string& text, const std::string& what) {
        std::size_t n = 0;
        for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
        return n;
    }

    const fs::path prlimit_ = "/usr/bin/prlimit";
    temp_dir dir_;
};

TEST_F(LoadgenInProcessLimits, DefaultMaxPeersShrinksToTheOpenFileLimitWithOneLine) {
    // 20 peers x (50 + 5) + 256 = 1356 descriptors; 700 leave (700 - 256) / 20 - 5 = 17 each.
    const auto run = run_limited("700:700", {});
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    EXPECT_EQ(lines_with(run.out,
                         "minibit-loadgen: open files are limited to 700: 20 in-process "
                         "peers get --max-peers 17 instead of 50 (50 would need 1356)\n"),
              1U)
        << run.out.substr(0, 4000);
    EXPECT_EQ(lines_with(run.out, "minibit-loadgen: "), 1U) << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "nofile_limit"), 700);
    EXPECT_EQ(number_at(doc, "rebuilt"), 20);
    EXPECT_LE(number_at(doc, "peak_fds"), 700);
}

TEST_F(LoadgenInProcessLimits, SoftLimitIsRaisedToTheHardLimitSilently) {
    const auto run = run_limited("300:2000", {});
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    EXPECT_EQ(lines_with(run.out, "minibit-loadgen: "), 0U) << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "nofile_limit"), 2000);
    EXPECT_EQ(number_at(doc, "rebuilt"), 20);
}

TEST_F(LoadgenInProcessLimits, RefusesPeersThatCannotFitBeforeStartingAnything) {
    // 200 peers need 200 x (4 + 5) + 256 = 2056 descriptors at the fewest connections.
    const auto run = run_limited("700:700", {"--peers", "200"});
    EXPECT_EQ(run.status.code, 2) << run.out;
    EXPECT_EQ(run.out,
              "minibit-loadgen: 200 in-process peers need at least 2056 open files (4 "
              "connections each); the limit is 700: lower --peers, or raise the hard limit "
              "(ulimit -Hn)\n");
    EXPECT_FALSE(fs::exists(dir_.path() / "downloads"));
    EXPECT_FALSE(fs::exists(dir_.path() / "logs"));
    EXPECT_FALSE(fs::exists(dir_.path() / "original.txt"));
}

TEST_F(LoadgenInProcessLimits, AGivenMaxPeersAboveTheLimitRunsWithinOneSharedBudget) {
    // --max-peers 50 for all would need 1356 descriptors. The peers share what 700 leave:
    // 700 - (20 x 5 + 256) - 64 = 280 connection ends, and each asks the tracker for all the
    // others, so the budget, not --max-peers, is what holds them.
    const auto run = run_limited("700:700", {"--max-peers", "50", "--numwant", "50"});
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out.substr(0, 4000);
    EXPECT_EQ(lines_with(run.out,
                         "minibit-loadgen: open files are limited to 700: 20 in-process "
                         "peers share 280 connection ends (--max-peers 50 for all would need "
                         "1356)\n"),
              1U)
        << run.out.substr(0, 4000);
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "rebuilt"), 20);
    EXPECT_EQ(number_at(doc, "connection_budget"), 280);
    EXPECT_GT(number_at(doc, "peak_connections"), 0);
    EXPECT_LE(number_at(doc, "peak_connections"), 280);
    EXPECT_LE(number_at(doc, "peak_fds"), 700);
}

}  // namespace
