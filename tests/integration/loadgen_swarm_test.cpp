// minibit-loadgen swarm end to end: real tracker and peer processes on 127.0.0.1, real files in
// a temporary folder. Also the driver's pure helpers (JSON reader, piece spreading, partial
// copies) on real files. The programs come from MINIBIT_LOADGEN (set by meson); the tracker and
// peer are found next to it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "loadgen_fixture.hpp"
#include "minibit/loadgen/child_process.hpp"
#include "minibit/loadgen/peer_stats.hpp"
#include "minibit/loadgen/spawn_floor.hpp"
#include "minibit/loadgen/swarm_files.hpp"

namespace {

namespace lg = minibit::loadgen;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using lg::testing::array_at;
using lg::testing::bool_at;
using lg::testing::last_json_line;
using lg::testing::loadgen_program;
using lg::testing::number_at;
using lg::testing::run_result;
using lg::testing::string_at;

struct temp_dir : lg::testing::test_dir {
    temp_dir() : lg::testing::test_dir("minibit-loadgen-") {}
};

run_result run_loadgen(const fs::path& dir, std::vector<std::string> args) {
    return lg::testing::run_loadgen(dir, std::move(args), 120s, 1U << 20U);
}

std::vector<std::string> swarm_args(const fs::path& dir, std::vector<std::string> extra) {
    std::vector<std::string> args = {"swarm",     "--json",
                                     "--file",    (dir / "original.txt").string(),
                                     "--size",    "1048576",
                                     "--out",     (dir / "downloads").string(),
                                     "--logs",    (dir / "logs").string(),
                                     "--timeout", "60"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

TEST(LoadgenSwarm, ScatterSwarmOfFiveRebuildsEveryCopyDespiteOneKill) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(),
        swarm_args(dir.path(), {"--peers", "5", "--kill", "1", "--pieces", "100", "--seed", "7"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(string_at(doc, "mode"), "scatter");
    EXPECT_EQ(number_at(doc, "file_bytes"), 1048576);
    EXPECT_EQ(number_at(doc, "piece_count"), 100);
    EXPECT_EQ(number_at(doc, "peers_total"), 5);
    EXPECT_EQ(number_at(doc, "kills_requested"), 1);
    EXPECT_EQ(number_at(doc, "killed"), 1);
    EXPECT_EQ(number_at(doc, "expected"), 4);
    EXPECT_EQ(number_at(doc, "rebuilt"), 4);
    EXPECT_EQ(string_at(doc, "summary"),
              "4/4 files rebuilt and identical (1 peer killed on purpose)");
    const auto rows = array_at(doc, "peers");
    ASSERT_EQ(rows.size(), 5U);
    std::uint32_t start_pieces = 0;
    for (const auto& row : rows) {
        const auto result = string_at(row, "result");
        EXPECT_TRUE(result == "rebuilt" || result == "killed") << result;
        start_pieces += static_cast<std::uint32_t>(number_at(row, "start_pieces"));
        if (result == "rebuilt") {
            EXPECT_GT(number_at(row, "messages_received"), 0);
            EXPECT_GT(number_at(row, "connections"), 0);
            EXPECT_GE(number_at(row, "seconds_to_complete"), 0);
        }
    }
    EXPECT_EQ(start_pieces, 100U);  // scatter: every piece given to exactly one peer
    EXPECT_FALSE(fs::exists(dir.path() / "downloads" / "peer-0"));  // removed without --keep
}

// Issue 4's disconnect scenario: 3 of 10 peers die by SIGKILL mid-transfer; the other 7 still
// rebuild identical copies from what is left. Uplinks of 1 MB/s stretch the transfer to about a
// second: unthrottled on loopback it could end (~0.1 s) before a third peer was mid-transfer
// with its pieces held elsewhere, and the third kill was then rightly not done.
TEST(LoadgenSwarm, TenPeerScatterSwarmSurvivesThreeKills) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(), swarm_args(dir.path(), {"--peers", "10", "--kill", "3", "--seed", "3",
                                            "--uplink-rate", "1000000"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "peers_total"), 10);
    EXPECT_EQ(number_at(doc, "killed"), 3);
    EXPECT_EQ(number_at(doc, "expected"), 7);
    EXPECT_EQ(number_at(doc, "rebuilt"), 7);
    EXPECT_EQ(string_at(doc, "summary"),
              "7/7 files rebuilt and identical (3 peers killed on purpose)");
}

TEST(LoadgenSwarm, SeedModeSwarmOfFourRebuildsEveryCopy) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(),
        swarm_args(dir.path(), {"--peers", "4", "--mode", "seed", "--pieces", "64", "--keep"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(string_at(doc, "mode"), "seed");
    EXPECT_EQ(number_at(doc, "peers_total"), 4);
    EXPECT_EQ(number_at(doc, "expected"), 3);
    EXPECT_EQ(number_at(doc, "rebuilt"), 3);
    EXPECT_EQ(number_at(doc, "killed"), 0);
    EXPECT_EQ(string_at(doc, "summary"), "3/3 files rebuilt and identical");
    const auto rows = array_at(doc, "peers");
    ASSERT_EQ(rows.size(), 4U);
    EXPECT_EQ(string_at(rows[0], "role"), "seeder");
    EXPECT_EQ(string_at(rows[0], "result"), "seeded");
    EXPECT_EQ(number_at(rows[0], "start_pieces"), number_at(doc, "piece_count"));
    for (std::size_t i = 1; i < rows.size(); ++i) {
        EXPECT_EQ(string_at(rows[i], "result"), "rebuilt");
        EXPECT_EQ(number_at(rows[i], "start_pieces"), 0);
        EXPECT_EQ(number_at(rows[i], "bytes_down"), 1048576);
    }
    // --keep: the copies stay, and they are the original.
    const auto original = lg::read_file(dir.path() / "original.txt", 2U << 20U);
    ASSERT_TRUE(original.has_value());
    EXPECT_TRUE(
        lg::identical_copy(*original, dir.path() / "downloads" / "peer-3" / "original.txt"));
}

// Every `get` runs with --seed-for as long as the whole run's timeout, so a run that ends well
// before it proves the driver ended it on the completion markers, then stopped each peer
// cleanly (exit 0, stats written on SIGTERM).
TEST(LoadgenSwarm, RunEndsOnCompletionMarkersAndStopsEveryPeerCleanly) {
    temp_dir dir;
    const auto run = run_loadgen(dir.path(), swarm_args(dir.path(), {"--peers", "3", "--keep"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(bool_at(doc, "timed_out"), false);
    EXPECT_LT(number_at(doc, "wall_seconds"), 30);  // peers would seed for ~60 s
    EXPECT_EQ(string_at(doc, "summary"), "3/3 files rebuilt and identical");
    const auto rows = array_at(doc, "peers");
    ASSERT_EQ(rows.size(), 3U);
    for (std::size_t k = 0; k < rows.size(); ++k) {
        EXPECT_EQ(string_at(rows[k], "result"), "rebuilt");
        EXPECT_EQ(string_at(rows[k], "exit"), "exit 0");
        EXPECT_GT(number_at(rows[k], "messages_received"), 0);  // stats written on SIGTERM
        EXPECT_GT(number_at(rows[k], "seconds_to_complete"), 0);
        EXPECT_TRUE(fs::exists(dir.path() / "logs" / ("peer-" + std::to_string(k) + ".complete")));
    }
    // The phases come in run order and end within the wall time (the tracker starts while
    // the torrent is made and the folders prepared).
    double previous = 0;
    for (const char* phase : {"torrent_made", "peers_prepared", "tracker_ready", "peers_started",
                              "first_block", "all_complete", "peers_stopped", "copies_checked"}) {
        const double at = number_at(doc, std::string("phases.") + phase);
        EXPECT_GE(at, previous) << phase;
        previous = at;
    }
    EXPECT_LE(previous, number_at(doc, "wall_seconds"));
    EXPECT_NEAR(number_at(doc, "phases.transfer"),
                number_at(doc, "phases.all_complete") - number_at(doc, "phases.peers_started"),
                0.002);
    EXPECT_TRUE(doc["phases"]["folders_removed"].is_null());  // --keep
}

// Without --keep the folders leave their place at once (peer-N free for the next run) and a
// detached process deletes them; the run does not wait for the file system.
TEST(LoadgenSwarm, FoldersAreMovedAsideAtOnceAndDeletedInTheBackground) {
    temp_dir dir;
    const auto run = run_loadgen(dir.path(), swarm_args(dir.path(), {"--peers", "3"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(bool_at(doc, "removal_detached"), true);
    EXPECT_GE(number_at(doc, "phases.folders_removed"), number_at(doc, "phases.copies_checked"));
    EXPECT_LE(number_at(doc, "phases.folders_removed"), number_at(doc, "wall_seconds"));
    const auto out = dir.path() / "downloads";
    for (int k = 0; k < 3; ++k) EXPECT_FALSE(fs::exists(out / ("peer-" + std::to_string(k))));
    EXPECT_TRUE(fs::exists(out / "swarm.torrent"));
    const auto leftovers = [&out] {
        int n = 0;
        for (const auto& e : fs::directory_iterator(out)) {
            n += e.path().filename().string().starts_with(".minibit-removing-") ? 1 : 0;
        }
        return n;
    };
    for (int i = 0; i < 500 && leftovers() > 0; ++i) lg::wait_for_event(20ms);
    EXPECT_EQ(leftovers(), 0);  // deleted within ~10 s
}

// The text report names the phases: start, first block, transfer, stop, check, removal.
TEST(LoadgenSwarm, TextReportPrintsThePhases) {
    temp_dir dir;
    auto args = swarm_args(dir.path(), {"--peers", "3"});
    args.erase(args.begin() + 1);  // no --json
    const auto run = run_loadgen(dir.path(), args);
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    for (const char* part :
         {"phases (s from start): tracker ready ", ", peers started ", ", first block ",
          ", all complete ", " (transfer ", ", copies checked ", ", folders removed "}) {
        EXPECT_NE(run.out.find(part), std::string::npos) << part << "\n" << run.out;
    }
}

// `minibit-loadgen floor`: every process is spawned and reaped, and how they ended is reported.
TEST(LoadgenFloor, SpawnsAndReapsEveryProcessAndReportsFailures) {
    temp_dir dir;
    const auto log = dir.path() / "floor.log";
    auto ok = lg::measure_spawn_floor({"/bin/true", {}, log}, 5, 10s);
    ASSERT_TRUE(ok.has_value()) << ok.error().message();
    EXPECT_TRUE(ok->all_succeeded);
    EXPECT_GT(ok->spawned_seconds, 0);
    EXPECT_GE(ok->total_seconds, ok->spawned_seconds);
    auto failing = lg::measure_spawn_floor({"/bin/false", {}, log}, 3, 10s);
    ASSERT_TRUE(failing.has_value());
    EXPECT_FALSE(failing->all_succeeded);
    EXPECT_FALSE(lg::measure_spawn_floor({dir.path() / "missing", {}, log}, 2, 10s).has_value());
}

// launch() returns before the exec; confirm_exec() reports a program that cannot run, and a
// launched child that runs is reaped with its status.
TEST(LoadgenChildProcess, LaunchedChildrenAreConfirmedAfterAllStarted) {
    temp_dir dir;
    const auto log = dir.path() / "launch.log";
    auto missing = lg::child_process::launch({dir.path() / "missing", {}, log});
    ASSERT_TRUE(missing.has_value());  // fork succeeded; the exec failure comes later
    auto sleeper = lg::child_process::launch({"/bin/sleep", {"0.05"}, log});
    ASSERT_TRUE(sleeper.has_value());
    const auto failed = missing->confirm_exec();
    ASSERT_FALSE(failed.has_value());
    EXPECT_NE(failed.error().message().find("cannot run"), std::string::npos);
    EXPECT_FALSE(missing->running());
    ASSERT_TRUE(sleeper->confirm_exec().has_value());
    EXPECT_TRUE(sleeper->confirm_exec().has_value());  // a second call is a no-op
    for (int i = 0; i < 500 && !sleeper->poll(); ++i) lg::wait_for_event(10ms);
    ASSERT_TRUE(sleeper->status().has_value());
    EXPECT_TRUE(sleeper->status()->success());
}

// True when something accepts TCP connections on 127.0.0.1:port.
bool accepts_connections(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// A reaped process's io_uring is torn down by the kernel a little later, and its listening
// sockets with it: give a closed port up to ~5 s to stop accepting.
bool stops_accepting(std::uint16_t port) {
    for (int i = 0; i < 250; ++i) {
        if (!accepts_connections(port)) return true;
        lg::wait_for_event(20ms);
    }
    return false;
}

TEST(LoadgenSwarm, SigtermStopsTheRunAndEndsEveryProcessItStarted) {
    temp_dir dir;
    const fs::path out = dir.path() / "loadgen.out";
    auto args = swarm_args(dir.path(), {"--peers", "3", "--linger", "60"});
    auto child = lg::child_process::spawn({loadgen_program(), args, out});
    ASSERT_TRUE(child.has_value()) << child.error().message();
    // Every peer's completion marker present means the driver is in its --linger phase.
    const auto marker = [&dir](int k) {
        return dir.path() / "logs" / ("peer-" + std::to_string(k) + ".complete");
    };
    bool all_complete = false;
    for (int i = 0; i < 1500 && !all_complete && !child->poll(); ++i) {  // at most ~30 s
        all_complete = fs::exists(marker(0)) && fs::exists(marker(1)) && fs::exists(marker(2));
        lg::wait_for_event(20ms);
    }
    ASSERT_TRUE(all_complete) << lg::read_file(out, 1U << 20U).value_or("");
    child->send(SIGTERM);
    for (int i = 0; i < 1500 && !child->poll(); ++i) lg::wait_for_event(20ms);
    ASSERT_FALSE(child->running());
    const auto text = lg::read_file(out, 1U << 20U).value_or("");
    EXPECT_EQ(child->status()->code, 128 + SIGTERM) << text;
    const auto doc = last_json_line(text);
    EXPECT_EQ(number_at(doc, "stop_signal"), SIGTERM);
    EXPECT_EQ(bool_at(doc, "success"), false);
    const auto tracker_port = static_cast<std::uint16_t>(number_at(doc, "tracker_port"));
    ASSERT_GT(tracker_port, 0);
    EXPECT_TRUE(stops_accepting(tracker_port));
    const auto rows = array_at(doc, "peers");
    ASSERT_EQ(rows.size(), 3U);
    for (const auto& row : rows) {
        EXPECT_EQ(string_at(row, "result"), "rebuilt");  // completed before the stop signal
        EXPECT_TRUE(stops_accepting(static_cast<std::uint16_t>(number_at(row, "port"))));
    }
    EXPECT_NE(text.find("minibit-loadgen: stopped by signal 15"), std::string::npos) << text;
}

TEST(LoadgenSwarm, MissingTrackerProgramFailsWithExitOneAndOneLine) {
    temp_dir dir;
    auto args = swarm_args(dir.path(),
                           {"--peers", "2", "--tracker-bin", "/nonexistent/minibit-tracker"});
    const auto run = run_loadgen(dir.path(), args);
    EXPECT_EQ(run.status.code, 1);
    EXPECT_NE(run.out.find("minibit-loadgen: loadgen: cannot run /nonexistent/minibit-tracker: No "
                           "such file or directory"),
              std::string::npos)
        << run.out;
}

TEST(LoadgenSwarm, RejectsKillingEveryPeerAsUsageError) {
    temp_dir dir;
    const auto run = run_loadgen(dir.path(),
                                 swarm_args(dir.path(), {"--peers", "3", "--kill", "3"}));
    EXPECT_EQ(run.status.code, 2);
    EXPECT_NE(run.out.find("--kill: 3 is outside 0..2"), std::string::npos) << run.out;
}

// "0-2,5" (a Cpus_allowed_list) as the set {0, 1, 2, 5}.
std::set<unsigned> cpu_list(const std::string& text) {
    std::set<unsigned> out;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t end = std::min(text.find(',', at), text.size());
        const std::string part = text.substr(at, end - at);
        const std::size_t dash = part.find('-');
        const auto first = static_cast<unsigned>(std::stoul(part.substr(0, dash)));
        const auto last = dash == std::string::npos
                              ? first
                              : static_cast<unsigned>(std::stoul(part.substr(dash + 1)));
        for (unsigned c = first; c <= last; ++c) out.insert(c);
        at = end + 1;
    }
    return out;
}

// --tracker-cpu N: the tracker (every thread) and the latency probe on CPU N, the driver and
// its peers on the others; the report reads the placement back from /proc.
TEST(LoadgenSwarm, TrackerCpuPutsTheTrackerApartFromTheSwarm) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    if (CPU_COUNT(&set) < 2) GTEST_SKIP() << "needs two CPUs; this process may use one";
    std::set<unsigned> allowed;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) allowed.insert(c);
    }
    const unsigned tracker_cpu = *allowed.rbegin();
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(), swarm_args(dir.path(), {"--peers", "3", "--tracker-cpu",
                                            std::to_string(tracker_cpu), "--probe-rate", "50"}));
    ASSERT_TRUE(run.status.success()) << run.status.describe() << "\n" << run.out;
    const auto doc = last_json_line(run.out);
    EXPECT_EQ(number_at(doc, "rebuilt"), 3);
    EXPECT_EQ(cpu_list(string_at(doc, "tracker_cpus")), std::set<unsigned>{tracker_cpu});
    allowed.erase(tracker_cpu);
    EXPECT_EQ(cpu_list(string_at(doc, "driver_cpus")), allowed);
    EXPECT_EQ(number_at(doc, "tracker_probe.errors"),
              0);  // a short swarm may end before it answers
}

TEST(LoadgenSwarm, RejectsATrackerCpuItCannotUse) {
    temp_dir dir;
    const auto run = run_loadgen(dir.path(), swarm_args(dir.path(), {"--tracker-cpu", "1023"}));
    EXPECT_EQ(run.status.code, 2);
    EXPECT_NE(run.out.find("--tracker-cpu: CPU 1023 is not one this process may run on"),
              std::string::npos)
        << run.out;
}

TEST(LoadgenSwarm, RejectsKillingTheSeederAsUsageError) {
    temp_dir dir;
    const auto run = run_loadgen(
        dir.path(), swarm_args(dir.path(), {"--peers", "3", "--mode", "seed", "--kill", "2"}));
    EXPECT_EQ(run.status.code, 2);
    EXPECT_NE(run.out.find("--kill: 2 is outside 0..1"), std::string::npos) << run.out;
}

TEST(LoadgenFiles, ScatterGivesEveryPieceToExactlyOnePeer) {
    const auto spread = lg::scatter_pieces(100, 10, 42);
    ASSERT_EQ(spread.size(), 10U);
    std::set<std::uint32_t> seen;
    for (const auto& list : spread) {
        EXPECT_EQ(list.size(), 10U);
        for (const auto p : list) EXPECT_TRUE(seen.insert(p.get()).second) << p.get();
    }
    EXPECT_EQ(seen.size(), 100U);
    EXPECT_EQ(*seen.rbegin(), 99U);
    EXPECT_EQ(lg::scatter_pieces(100, 10, 42), spread);  // same seed, same spread
}

TEST(LoadgenFiles, PartialCopyHoldsOnlyItsPiecesAndPresenceFindsExactlyThose) {
    temp_dir dir;
    const auto original_path = dir.path() / "original.txt";
    ASSERT_TRUE(lg::generate_text_file(original_path, 10'000, 3).has_value());
    const auto original = lg::read_file(original_path, 1U << 20U);
    ASSERT_TRUE(original.has_value());
    ASSERT_EQ(original->size(), 10'000U);
    EXPECT_EQ((*original)[76], '\n');
    const lg::piece_geometry geo{1024, 10'000};
    ASSERT_EQ(geo.piece_count(), 10U);
    EXPECT_EQ(geo.size(minibit::piece_index{9}), 784U);
    const std::vector<minibit::piece_index> given = {minibit::piece_index{1},
                                                     minibit::piece_index{9}};
    const auto copy = dir.path() / "peer" / "original.txt";
    ASSERT_TRUE(lg::write_partial_copy(*original, copy, geo, given).has_value());
    EXPECT_EQ(fs::file_size(copy), 10'000U);
    std::vector<bool> have;
    lg::update_presence(*original, copy, geo, have);
    const std::vector<bool> expected = {false, true,  false, false, false,
                                        false, false, false, false, true};
    EXPECT_EQ(have, expected);
    EXPECT_FALSE(lg::identical_copy(*original, copy));
    std::vector<minibit::piece_index> all;
    for (std::uint32_t i = 0; i < 10; ++i) all.emplace_back(i);
    ASSERT_TRUE(lg::write_partial_copy(*original, copy, geo, all).has_value());
    EXPECT_TRUE(lg::identical_copy(*original, copy));
}

// In a forked death-test child: 0 when compare_copy() says "unknown" once no descriptor is left.
int compare_without_descriptors(std::string_view original, const fs::path& copy) {
    const int lowest_free = ::dup(0);  // every lower descriptor is in use
    ::close(lowest_free);
    const rlimit lim{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
    return lg::compare_copy(original, copy).has_value() ? 1 : 0;
}

// A full descriptor table (a 1,000-peer in-process run) must not turn a good copy into a
// corrupt one: the comparison says "unknown" and the driver compares again later.
TEST(LoadgenFiles, CopyUnreadableForLackOfDescriptorsIsUnknownNotCorrupt) {
    temp_dir dir;
    const auto path = dir.path() / "original.txt";
    ASSERT_TRUE(lg::generate_text_file(path, 5'000, 7).has_value());
    const auto original = lg::read_file(path, 1U << 20U);
    ASSERT_TRUE(original.has_value());
    const auto copy = dir.path() / "copy.txt";
    fs::copy_file(path, copy);
    EXPECT_EQ(lg::compare_copy(*original, copy), std::optional<bool>(true));
    EXPECT_EXIT(std::_Exit(compare_without_descriptors(*original, copy)),
                ::testing::ExitedWithCode(0), "");
    std::ofstream(copy, std::ios::binary | std::ios::app) << 'x';
    EXPECT_EQ(lg::compare_copy(*original, copy), std::optional<bool>(false));
}

// The comparison reads the copy a chunk (1 MiB) at a time: a difference in any chunk, the
// first byte of one or the last byte of the file, makes the copy different.
TEST(LoadgenFiles, CopyDifferingInAnyChunkIsDifferent) {
    temp_dir dir;
    const auto path = dir.path() / "original.txt";
    ASSERT_TRUE(lg::generate_text_file(path, (3U << 20U) + 5, 11).has_value());
    const auto original = lg::read_file(path, 4U << 20U);
    ASSERT_TRUE(original.has_value());
    const auto copy = dir.path() / "copy.txt";
    for (const std::size_t at : {std::size_t{0}, std::size_t{1} << 20U, (std::size_t{2} << 20U) - 1,
                                 original->size() - 1}) {
        std::string changed = *original;
        changed[at] = changed[at] == 'x' ? 'y' : 'x';
        std::ofstream(copy, std::ios::binary | std::ios::trunc) << changed;
        EXPECT_EQ(lg::compare_copy(*original, copy), std::optional<bool>(false)) << at;
    }
    std::ofstream(copy, std::ios::binary | std::ios::trunc) << *original;
    EXPECT_EQ(lg::compare_copy(*original, copy), std::optional<bool>(true));
}

TEST(LoadgenFiles, MappedOriginalHasTheFilesBytesAndRefusesWhatIsNotAFile) {
    temp_dir dir;
    const auto path = dir.path() / "original.txt";
    ASSERT_TRUE(lg::generate_text_file(path, 5'000, 7).has_value());
    const auto read = lg::read_file(path, 1U << 20U);
    ASSERT_TRUE(read.has_value());
    auto mapped = lg::mapped_file::open(path);
    ASSERT_TRUE(mapped.has_value());
    EXPECT_EQ(mapped->bytes(), *read);
    lg::mapped_file moved = std::move(*mapped);
    EXPECT_EQ(moved.bytes(), *read);
    EXPECT_TRUE(mapped->bytes().empty());
    const auto empty = dir.path() / "empty";
    { std::ofstream(empty).flush(); }
    auto none = lg::mapped_file::open(empty);
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->bytes().empty());
    EXPECT_FALSE(lg::mapped_file::open(dir.path()).has_value());
    EXPECT_FALSE(lg::mapped_file::open(dir.path() / "missing").has_value());
}

TEST(LoadgenFiles, StampChangesWhenACopyIsRewritten) {
    temp_dir dir;
    const auto path = dir.path() / "copy";
    { std::ofstream(path) << "first"; }
    const auto before = lg::stamp_of(path);
    ASSERT_TRUE(before.has_value());
    EXPECT_EQ(before->size, 5U);
    EXPECT_EQ(lg::stamp_of(path), before);
    std::this_thread::sleep_for(10ms);  // coarse file system clocks
    { std::ofstream(path) << "other"; }
    EXPECT_NE(lg::stamp_of(path), before);
    EXPECT_FALSE(lg::stamp_of(dir.path() / "missing").has_value());
    EXPECT_FALSE(lg::stamp_of(dir.path()).has_value());
}

TEST(LoadgenStats, ReadsPeerStatsCounters) {
    const auto c = lg::parse_peer_stats(
        R"({"torrent":{"messages_sent":{"interested":2,"request":64},)"
        R"("messages_received":{"piece":64,"unchoke":1},"payload_bytes_down":1048576,)"
        R"("payload_bytes_up":0,"connections_out":3,"connections_in":1,"wire_bytes_up":900,)"
        R"("wire_bytes_down":1050000,"seconds_to_complete":0.25,"seconds_to_first_block":0.01}})");
    ASSERT_TRUE(c.has_value()) << c.error().message();
    EXPECT_EQ(c->messages_sent, 66U);
    EXPECT_EQ(c->messages_received, 65U);
    EXPECT_EQ(c->connections, 4U);
    EXPECT_EQ(c->bytes_down, 1048576U);
    EXPECT_EQ(c->wire_bytes_down, 1050000U);
    EXPECT_EQ(c->seconds_to_complete, 0.25);
    EXPECT_EQ(c->seconds_to_first_block, 0.01);
}

TEST(LoadgenStats, RejectsMalformedStatsWithOffset) {
    const auto truncated = lg::parse_peer_stats(R"({"a":[1,2)");
    ASSERT_FALSE(truncated.has_value());
    EXPECT_TRUE(minibit::is(truncated.error(), lg::loadgen_errc::bad_json));
    EXPECT_EQ(truncated.error().offset, 9U);
    const auto trailing = lg::parse_peer_stats("{} x");
    ASSERT_FALSE(trailing.has_value());
    EXPECT_EQ(trailing.error().offset, 3U);
    const auto no_stats = lg::parse_peer_stats(R"({"x":1})");
    ASSERT_FALSE(no_stats.has_value());
    EXPECT_EQ(no_stats.error().reason, "no object with \"messages_sent\"");
    // Deep nesting is parsed without recursion and found to hold no stats.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_FALSE(lg::parse_peer_stats(deep).has_value());
}

}  // namespace
