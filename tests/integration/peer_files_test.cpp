// What minibit-peer may do to a user's files (issue 11, defects 2, 3 and 5), with the real
// program: `seed` reads complete data and changes nothing (read-only files and folders, a
// read-only mount, another user's files; a refused seed of a short copy), and `get` touches
// only the torrent's files inside its output folder (no link followed out of it), says why it
// cannot write a folder, and leaves nothing behind when it fails before a piece verified.
// Every transfer runs on 127.0.0.1 with port 0. The process enters a mount namespace of its own
// at start when root; cases that need root skip without it, and fail under CI=true.
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "skip_or_fail.hpp"
#include "temp_dir.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A user and group id that own nothing on the machine (the seeder of another user's files).
constexpr uid_t stranger_id = 65533;
constexpr uid_t nobody_id = 65534;

// Entered at static initialisation: a mount namespace can only be unshared while the process
// has one thread. Mounts made by the tests stay in it and vanish with the process.
const bool own_mounts = [] {
    return ::geteuid() == 0 && ::unshare(CLONE_NEWNS) == 0 &&
           ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}();

fs::path peer_program() {
    const char* env = std::getenv("MINIBIT_PEER");
    return env != nullptr ? fs::path(env) : fs::path("minibit-peer");
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// How a child runs: its output file, extra environment, and optionally another uid/gid.
struct run_options {
    fs::path output;
    std::vector<std::string> env;  ///< "NAME=value", added to (or replacing in) ours
    std::optional<uid_t> as_user;
};

/// A child process of ours: output to a file, killed (SIGKILL, by pid) and reaped at the end.
class child {
public:
    child(const std::vector<std::string>& args, const run_options& o) {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        std::vector<std::string> env_text;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string kv = *e;
            const auto same_name = [&kv](const std::string& n) {
                return kv.compare(0, n.find('=') + 1, n, 0, n.find('=') + 1) == 0;
            };
            const bool replaced = std::any_of(o.env.begin(), o.env.end(), same_name);
            if (!replaced) env_text.push_back(kv);
        }
        env_text.insert(env_text.end(), o.env.begin(), o.env.end());
        std::vector<char*> envp;
        for (auto& e : env_text) envp.push_back(e.data());
        envp.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            const int out = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                                   0666);
            const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 ||
                ::dup2(out, 2) < 0) {
                ::_exit(126);
            }
            if (o.as_user && (::setgroups(0, nullptr) != 0 || ::setgid(*o.as_user) != 0 ||
                              ::setuid(*o.as_user) != 0)) {
                ::_exit(125);
            }
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
    }
    ~child() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            (void)wait_for(5s);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    void signal(int sig) const {
        if (pid_ > 0 && !status_) ::kill(pid_, sig);
    }
    /// The exit status (128 + signal when killed), or nullopt while still running at `limit`.
    std::optional<int> wait_for(std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!status_ && pid_ > 0) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            if (steady::now() >= end) break;
            std::this_thread::sleep_for(10ms);
        }
        return status_;
    }

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// A regular file's size, mtime and a digest of its bytes; a folder's presence.
struct entry_state {
    bool folder = false;
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    std::size_t bytes_digest = 0;
    friend bool operator==(const entry_state&, const entry_state&) = default;
    friend std::ostream& operator<<(std::ostream& os, const entry_state& e) {
        return os << (e.folder ? "folder" : "file") << " size " << e.size << " mtime " << e.mtime_ns
                  << " digest " << e.bytes_digest;
    }
};

/// Everything below root, links not followed: what a command must leave unchanged.
std::map<std::string, entry_state> folder_state(const fs::path& root) {
    std::map<std::string, entry_state> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st {};
        ::lstat(it->path().c_str(), &st);
        entry_state e;
        e.folder = S_ISDIR(st.st_mode);
        if (S_ISREG(st.st_mode)) {
            e.size = static_cast<std::uintmax_t>(st.st_size);
            e.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
            e.bytes_digest = std::hash<std::string>{}(read_all(it->path()));
        }
        out[fs::relative(it->path(), root).string()] = std::move(e);
    }
    return out;
}

/// A loopback TCP listener held for the life of the object (a port nobody else may take).
class held_port {
public:
    held_port() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 1) == 0 &&
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
            port_ = ntohs(a.sin_port);
        }
    }
    ~held_port() { ::close(fd_); }
    held_port(const held_port&) = delete;
    held_port& operator=(const held_port&) = delete;
    [[nodiscard]] std::uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

class PeerFiles : public ::testing::Test {
protected:
    void SetUp() override {
        // Others (the stranger's seeder) must reach the program, the torrent and the logs.
        fs::permissions(dir_.path, fs::perms::all);
        fs::copy_file(peer_program(), dir_.path / "minibit-peer");
        program_ = dir_.path / "minibit-peer";
        fs::create_directories(dir_.path / "logs");
        fs::permissions(dir_.path / "logs", fs::perms::all);
        bytes_.resize(2 * 1024 * 1024);
        std::mt19937_64 rng(42);
        for (auto& c : bytes_) c = static_cast<char>(rng());
        write_data(dir_.path / "original");
        auto st = run_to_end({"create", (dir_.path / "original/data.bin").string(), "-o",
                              torrent().string(), "--piece-size", "65536", "--tracker",
                              "http://127.0.0.1:9/announce"});
        ASSERT_EQ(st.first, 0) << st.second;
        fs::permissions(torrent(), fs::perms::owner_read | fs::perms::owner_write |
                                       fs::perms::group_read | fs::perms::others_read);
    }

    void TearDown() override {
        // Folders a case made read-only, so the temp folder can go (root needs none of it).
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir_.path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
            }
        }
    }

    [[nodiscard]] fs::path torrent() const { return dir_.path / "data.torrent"; }
    [[nodiscard]] fs::path log(const std::string& name) const {
        return dir_.path / "logs" / (name + ".log");
    }
    [[nodiscard]] fs::path out(const std::string& name) const {
        return dir_.path / "logs" / (name + ".out");
    }
    /// dir/data.bin with the torrent's bytes (or its first `size` bytes).
    void write_data(const fs::path& dir, std::optional<std::size_t> size = std::nullopt) const {
        fs::create_directories(dir);
        std::ofstream(dir / "data.bin", std::ios::binary)
            .write(bytes_.data(), static_cast<std::streamsize>(size.value_or(bytes_.size())));
    }

    /// Runs minibit-peer with args to its end (bounded): exit status and combined output.
    std::pair<int, std::string> run_to_end(std::vector<std::string> args,
                                           const run_options& extra = {}) {
        static int n = 0;
        run_options o = extra;
        o.output = dir_.path / "logs" / ("run" + std::to_string(++n) + ".out");
        args.insert(args.begin(), program_.string());
        child c(args, o);
        const auto st = c.wait_for(60s);
        return {st.value_or(-1), read_all(o.output)};
    }

    /// The state folder the programs get through XDG_STATE_HOME (they add "minibit").
    [[nodiscard]] fs::path xdg_state() const { return dir_.path / "logs" / "xdg"; }

    /// Starts `seed` of DATA_PATH on 127.0.0.1, port 0, for `seconds`, with XDG_STATE_HOME in
    /// the temp folder.
    std::unique_ptr<child> start_seed(const fs::path& data, run_options o = {},
                                      std::vector<std::string> extra = {},
                                      const std::string& seconds = "60") {
        o.output = out("seed");
        o.env.push_back("XDG_STATE_HOME=" + xdg_state().string());
        std::error_code ec;
        fs::remove(log("seed"), ec);
        std::vector<std::string> args{program_.string(),
                                      "seed",
                                      torrent().string(),
                                      data.string(),
                                      "--no-tracker",
                                      "--listen",
                                      "127.0.0.1",
                                      "--port",
                                      "0",
                                      "--for",
                                      seconds,
                                      "--log",
                                      log("seed").string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<child>(args, o);
    }

    /// The seeder's port from its log, once it listens (0 if it never does within 20 s).
    std::uint16_t seed_port(child& seeder) {
        static const std::regex re(R"(listening on port (\d+))");
        const auto end = steady::now() + 20s;
        while (steady::now() < end) {
            std::smatch m;
            const std::string text = read_all(log("seed"));
            if (std::regex_search(text, m, re)) return static_cast<std::uint16_t>(std::stoi(m[1]));
            if (seeder.wait_for(0ms)) return 0;
            std::this_thread::sleep_for(20ms);
        }
        return 0;
    }

    /// A `get` from the seeder on `port` into dir/got completes with the original bytes, and
    /// the seeder then stops cleanly on SIGTERM.
    void expect_get_completes_from(child& seeder, std::uint16_t port) {
        ASSERT_NE(port, 0) << read_all(out("seed")) << read_all(log("seed"));
        const auto got = run_to_end({"get", torrent().string(), "-o", (dir_.path / "got").string(),
                                     "--no-tracker", "--listen", "127.0.0.1", "--peer",
                                     "127.0.0.1:" + std::to_string(port), "--timeout", "30"},
                                    {{}, {"XDG_STATE_HOME=" + xdg_state().string()}, {}});
        EXPECT_EQ(got.first, 0) << got.second;
        EXPECT_TRUE(read_all(dir_.path / "got" / "data.bin") == bytes_) << "the copy differs";
        seeder.signal(SIGTERM);
        EXPECT_EQ(seeder.wait_for(10s), 0) << read_all(out("seed"));
    }

    minibit::testing::temp_dir dir_{"minibit-files-"};
    fs::path program_;
    std::string bytes_;
};

// Issue 11, defect 3: a file the user may read but not write, in a folder they cannot write.
TEST_F(PeerFiles, SeedsAReadOnlyFileInAReadOnlyFolderAndCreatesNothingBesideIt) {
    const fs::path data = dir_.path / "ro";
    write_data(data);
    fs::permissions(data / "data.bin",
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(data, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
    const auto before = folder_state(data);
    auto seeder = start_seed(data);
    expect_get_completes_from(*seeder, seed_port(*seeder));
    EXPECT_EQ(folder_state(data), before);
    std::error_code ec;
    EXPECT_EQ(std::distance(fs::directory_iterator(xdg_state() / "minibit", ec),
                            fs::directory_iterator()),
              1)
        << "one resume file, named by info hash";
}

// --state-dir overrides $XDG_STATE_HOME: the seed keeps its resume file there, one per info
// hash (a second run replaces it), and still writes nothing beside the data.
TEST_F(PeerFiles, StateDirHoldsTheSeedsResumeFileByInfoHash) {
    const fs::path data = dir_.path / "plain";
    write_data(data);
    const fs::path state = dir_.path / "logs" / "my-state";
    for (int run = 0; run < 2; ++run) {
        auto seeder = start_seed(data, {}, {"--state-dir", state.string()}, "0.3");
        EXPECT_EQ(seeder->wait_for(20s), 0) << read_all(out("seed"));
    }
    ASSERT_EQ(std::distance(fs::directory_iterator(state), fs::directory_iterator()), 1);
    EXPECT_EQ(fs::directory_iterator(state)->path().extension(), ".resume");
    EXPECT_EQ(fs::directory_iterator(state)->path().stem().string().size(), 40U);
    EXPECT_FALSE(fs::exists(xdg_state()));
    EXPECT_EQ(std::distance(fs::directory_iterator(data), fs::directory_iterator()), 1);
}

// Issue 11, defect 3: a read-only mount (tmpfs remounted read-only in our mount namespace).
TEST_F(PeerFiles, SeedsFromAReadOnlyMount) {
    if (!own_mounts) MINIBIT_SKIP_OR_FAIL("needs root for a private mount namespace");
    const fs::path mnt = dir_.path / "mnt";
    fs::create_directories(mnt);
    ASSERT_EQ(::mount("minibit-ro", mnt.c_str(), "tmpfs", 0, "size=8m"), 0) << std::strerror(errno);
    const std::unique_ptr<const char, void (*)(const char*)> unmount(
        mnt.c_str(), [](const char* p) { ::umount2(p, MNT_DETACH); });
    write_data(mnt);
    ASSERT_EQ(::mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
        << std::strerror(errno);
    const auto before = folder_state(mnt);
    auto seeder = start_seed(mnt);
    expect_get_completes_from(*seeder, seed_port(*seeder));
    EXPECT_EQ(folder_state(mnt), before);
}

// Issue 11, defect 3: another user's readable file, seeded by a third user.
TEST_F(PeerFiles, SeedsAnotherUsersReadableFileAsAThirdUser) {
    if (::geteuid() != 0) MINIBIT_SKIP_OR_FAIL("needs root to chown and to run as another user");
    const fs::path data = dir_.path / "theirs";
    write_data(data);
    ASSERT_EQ(::chown((data / "data.bin").c_str(), nobody_id, nobody_id), 0);
    ASSERT_EQ(::chown(data.c_str(), nobody_id, nobody_id), 0);
    ::chmod((data / "data.bin").c_str(), 0444);
    ::chmod(data.c_str(), 0555);
    const auto before = folder_state(data);
    fs::create_directories(xdg_state());
    ::chown(xdg_state().c_str(), stranger_id, stranger_id);
    auto seeder = start_seed(data, {{}, {}, stranger_id});
    expect_get_completes_from(*seeder, seed_port(*seeder));
    EXPECT_EQ(folder_state(data), before);
}

// Issue 11, defect 2: a refused seed of a truncated copy leaves every byte and time as it was.
TEST_F(PeerFiles, RefusedSeedOfATruncatedCopyChangesNothing) {
    const fs::path data = dir_.path / "short";
    write_data(data, bytes_.size() / 2);
    const auto before = folder_state(data);
    auto seeder = start_seed(data);
    EXPECT_EQ(seeder->wait_for(30s), 1);
    const std::string said = read_all(out("seed"));
    EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
    EXPECT_NE(said.find((data / "data.bin").string() + " is 1048576 bytes, expected 2097152"),
              std::string::npos)
        << said;
    EXPECT_EQ(folder_state(data), before);
    EXPECT_FALSE(fs::exists(xdg_state()));
}

// Issue 11, defect 5: folders get cannot use are named as such, and nothing is created.
TEST_F(PeerFiles, GetIntoAFolderItCannotUseSaysWhyAndCreatesNothing) {
    const std::vector<std::pair<fs::path, std::string>> cases = {
        {"/proc/sys", "output folder /proc/sys is not writable"},
        {dir_.path / "no" / "such" / "out",
         (dir_.path / "no" / "such").string() + " does not exist"},
        {torrent(), "output folder " + torrent().string() + " is not a folder"},
    };
    const auto without_logs = [this] {
        auto state = folder_state(dir_.path);
        std::erase_if(state, [](const auto& e) { return e.first.starts_with("logs"); });
        return state;
    };
    const auto before = without_logs();
    for (const auto& [folder, reason] : cases) {
        const auto r = run_to_end(
            {"get", torrent().string(), "-o", folder.string(), "--no-tracker", "--timeout", "5"});
        EXPECT_EQ(r.first, 1) << folder;
        EXPECT_EQ(std::count(r.second.begin(), r.second.end(), '\n'), 1) << r.second;
        EXPECT_NE(r.second.find(reason), std::string::npos) << r.second;
        EXPECT_EQ(r.second.find("space"), std::string::npos) << r.second;
    }
    EXPECT_EQ(without_logs(), before);
}

// Issue 11, defect 2: a get that fails before any piece verified leaves nothing behind: not
// when its port is taken after the files were opened (--threads 2), not when it times out.
TEST_F(PeerFiles, GetThatFailsBeforeAPieceVerifiedLeavesNoFileBehind) {
    const held_port busy;
    ASSERT_NE(busy.port(), 0);
    const fs::path out = dir_.path / "out";
    const auto taken = run_to_end({"get", torrent().string(), "-o", out.string(), "--no-tracker",
                                   "--listen", "127.0.0.1", "--port", std::to_string(busy.port()),
                                   "--threads", "2", "--timeout", "5"});
    EXPECT_EQ(taken.first, 1) << taken.second;
    EXPECT_FALSE(fs::exists(out)) << taken.second;
    fs::create_directories(out);
    const auto timed_out = run_to_end({"get", torrent().string(), "-o", out.string(),
                                       "--no-tracker", "--listen", "127.0.0.1", "--timeout", "1"});
    EXPECT_EQ(timed_out.first, 1) << timed_out.second;
    EXPECT_TRUE(fs::is_empty(out)) << "left: " << fs::directory_iterator(out)->path();
}

// get creates and grows only the torrent's files inside its folder: a link there is refused.
TEST_F(PeerFiles, GetRefusesASymbolicLinkInItsFolderAndLeavesItsTargetAlone) {
    const fs::path out = dir_.path / "out";
    fs::create_directories(out);
    std::ofstream(dir_.path / "victim") << "not the torrent's data";
    fs::create_symlink(dir_.path / "victim", out / "data.bin");
    const auto before = read_all(dir_.path / "victim");
    const auto r = run_to_end({"get", torrent().string(), "-o", out.string(), "--no-tracker",
                               "--listen", "127.0.0.1", "--timeout", "5"});
    EXPECT_EQ(r.first, 1) << r.second;
    EXPECT_NE(r.second.find("is a symbolic link"), std::string::npos) << r.second;
    EXPECT_TRUE(read_all(dir_.path / "victim") == before) << "the link's target changed";
    EXPECT_EQ(fs::file_size(dir_.path / "victim"), before.size());
}

}  // namespace
