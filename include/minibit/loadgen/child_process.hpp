// Child processes of the swarm driver: fork + exec without a shell, output to a log file, each
// child in its own process group and killed by the kernel if the driver dies (PR_SET_PDEATHSIG).
// launch() does not wait for the exec, so a driver starts all its peers at once.
// A child_process owns its pid: the destructor kills and reaps a child still running, so every
// exit path of the driver reaps everything it started. Single-threaded use only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {

/// How a child ended: an exit code or a signal.
struct exit_status {
    int code = -1;   ///< exit code when the child exited, else -1
    int signal = 0;  ///< terminating signal, else 0

    [[nodiscard]] bool success() const { return signal == 0 && code == 0; }
    /// "exit 0", "exit 3" or "signal 9 (Killed)".
    [[nodiscard]] std::string describe() const;
};

/// What to run: the program, its arguments (without argv[0]) and where its output goes.
struct spawn_spec {
    std::filesystem::path program;
    std::vector<std::string> args;
    std::filesystem::path output;  ///< stdout and stderr, appended; stdin is /dev/null
};

/// One running (or finished and reaped) child process.
class child_process {
public:
    /// Starts the program; fails when fork fails or exec fails (e.g. the program is missing).
    [[nodiscard]] static result<child_process> spawn(const spawn_spec& spec);
    /// Starts the program without waiting for its exec: many children start at once, each
    /// confirmed later by confirm_exec(). Fails only when fork fails.
    [[nodiscard]] static result<child_process> launch(const spawn_spec& spec);
    /// Waits for a launched child's exec; fails (the child reaped) when exec failed. A no-op
    /// once confirmed.
    [[nodiscard]] result<void> confirm_exec();

    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process();

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool running() const { return pid_ > 0 && !status_; }
    [[nodiscard]] const std::optional<exit_status>& status() const { return status_; }
    /// Reaps the child if it has ended, without blocking; returns true when it has ended.
    bool poll();
    /// Sends a signal to a running child (no-op once it has been reaped).
    void send(int signo) const;
    /// SIGKILL then a blocking reap.
    void kill_and_reap();
    /// SIGTERM, waits up to `grace` for it to end, then kill_and_reap().
    void terminate(std::chrono::milliseconds grace);

private:
    child_process(pid_t pid, int exec_report, std::string program)
        : pid_(pid), exec_report_(exec_report), program_(std::move(program)) {}
    void close_report();

    pid_t pid_ = -1;
    std::optional<exit_status> status_;
    int exec_report_ = -1;  // read end of the child's exec-error pipe until confirmed
    std::string program_;   // for the error message of a failed exec
};

/// Blocks the signals the driver waits for (SIGCHLD, SIGINT, SIGTERM, SIGHUP) in this thread;
/// children get them unblocked again. Call once at start, before any spawn.
void block_driver_signals();

/// Waits up to `timeout` for SIGCHLD or a stop signal; returns the stop signal if one came.
/// A stop signal is also remembered, for stop_signal().
std::optional<int> wait_for_event(std::chrono::milliseconds timeout);

/// The first stop signal (SIGINT, SIGTERM, SIGHUP) seen by wait_for_event, or 0.
[[nodiscard]] int stop_signal();

/// Runs a program to completion (bounded by `timeout`, then killed); returns how it ended.
[[nodiscard]] result<exit_status> run_to_end(const spawn_spec& spec,
                                             std::chrono::milliseconds timeout);

}  // namespace minibit::loadgen
