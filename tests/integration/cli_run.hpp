// Running one of our programs as a user does from a shell, for the command-line tests: the
// program's exit code, stdout and stderr kept apart, a bounded wait; and readers for what a
// command line prints (--help option lines, --print-config keys, the --version line).
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace minibit::testing {

/// How a program run ended and what it printed.
struct cli_run {
    int code = -1;  ///< exit status, or 128 + signal
    std::string out;
    std::string err;
};

/// The whole content of `p` ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Runs `program` with `args` in the folder `dir` (stdin /dev/null, stdout and stderr through
/// two files in `dir` that are removed afterwards); kills it and fails the test after `limit`.
inline cli_run run_program(const std::filesystem::path& program,
                           const std::vector<std::string>& args, const std::filesystem::path& dir,
                           std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    namespace fs = std::filesystem;
    const std::string path = fs::absolute(program).string();
    const auto out = dir / ".stdout";
    const auto err = dir / ".stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    std::vector<std::string> store{path};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    cli_run r;
    if (spawned != 0) {
        ADD_FAILURE() << "cannot run " << path;
        return r;
    }
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            ADD_FAILURE() << path << " did not end within " << limit.count() << " ms";
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    fs::remove(out);
    fs::remove(err);
    return r;
}

/// The "--flag" at `at` in `text` (lower case, digits and dashes), or "".
inline std::string flag_at(const std::string& text, std::size_t at) {
    if (text.size() < at + 3 || text.compare(at, 2, "--") != 0) return {};
    std::size_t end = at + 2;
    while (end < text.size() && ((text[end] >= 'a' && text[end] <= 'z') ||
                                 (text[end] >= '0' && text[end] <= '9') || text[end] == '-'))
        ++end;
    return end > at + 2 ? text.substr(at, end - at) : std::string();
}

/// Every "--flag" at the start of a --help option line ("  --port N ...", "  -o,--output ...").
inline std::set<std::string> help_flags(const std::string& help) {
    std::set<std::string> flags;
    std::istringstream in(help);
    for (std::string l; std::getline(in, l);) {
        const std::size_t at = l.size() > 5 && l.compare(0, 3, "  -") == 0 && l[3] != '-' ? 5 : 2;
        if (auto f = flag_at(l, at); !f.empty()) flags.insert(f);
    }
    return flags;
}

/// Every key of a --print-config file, set ("key = v") or left as a comment ("# key =").
inline std::set<std::string> config_keys(const std::string& toml) {
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

/// True for "<program> 0.1.0 (1a2b3c4d5e6f)" or "<program> 0.1.0 (unknown)" and a newline.
inline bool is_version_line(const std::string& text, const std::string& program) {
    const std::string prefix = program + " ";
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

/// Number of newline characters in `text`.
inline std::size_t lines_in(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace minibit::testing
