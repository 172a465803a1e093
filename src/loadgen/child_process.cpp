#include "minibit/loadgen/child_process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace minibit::loadgen {
namespace {

constexpr std::chrono::milliseconds poll_step{50};
int first_stop_signal = 0;

sigset_t driver_signal_set() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    return set;
}

exit_status decode(int wstatus) {
    exit_status st;
    if (WIFEXITED(wstatus)) st.code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) st.signal = WTERMSIG(wstatus);
    return st;
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const char* path, char* const* argv, int in_fd, int out_fd,
                             int report_fd, pid_t parent) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the driver died before prctl took effect
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    ::execv(path, argv);
    const int err = errno;
    [[maybe_unused]] const auto n = ::write(report_fd, &err, sizeof err);
    ::_exit(127);
}

// Reads the errno the child reports when exec fails; 0 when exec succeeded (pipe closed).
int read_exec_error(int fd) {
    int err = 0;
    ssize_t n = 0;
    do {
        n = ::read(fd, &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

}  // namespace

std::string exit_status::describe() const {
    if (signal != 0) return fmt::format("signal {} ({})", signal, ::strsignal(signal));
    return fmt::format("exit {}", code);
}

void block_driver_signals() {
    const sigset_t set = driver_signal_set();
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

std::optional<int> wait_for_event(std::chrono::milliseconds timeout) {
    const sigset_t set = driver_signal_set();
    const auto ms = std::max<std::chrono::milliseconds::rep>(timeout.count(), 0);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ms / 1000);
    ts.tv_nsec = static_cast<long>((ms % 1000) * 1'000'000);
    const int s = ::sigtimedwait(&set, nullptr, &ts);
    if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
        if (first_stop_signal == 0) first_stop_signal = s;
        return s;
    }
    return std::nullopt;
}

int stop_signal() {
    return first_stop_signal;
}

result<child_process> child_process::spawn(const spawn_spec& spec) {
    auto child = launch(spec);
    if (!child) return child;
    if (auto ran = child->confirm_exec(); !ran) return std::unexpected(ran.error());
    return child;
}

result<child_process> child_process::launch(const spawn_spec& spec) {
    std::vector<std::string> store{spec.program.string()};
    store.insert(store.end(), spec.args.begin(), spec.args.end());
    std::vector<char*> argv;
    argv.reserve(store.size() + 1);
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);

    const int out = ::open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
        return fail(loadgen_errc::io,
                    fmt::format("cannot open {}: {}", spec.output.string(), std::strerror(errno)));
    }
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2] = {-1, -1};
    if (in < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(out);
        if (in >= 0) ::close(in);
        return fail(loadgen_errc::spawn_failed, fmt::format("pipe: {}", std::strerror(err)));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) exec_child(store[0].c_str(), argv.data(), in, out, report[1], parent);
    const int fork_errno = errno;
    ::close(report[1]);
    ::close(out);
    ::close(in);
    if (pid < 0) {
        ::close(report[0]);
        return fail(loadgen_errc::spawn_failed, fmt::format("fork: {}", std::strerror(fork_errno)));
    }
    return child_process(pid, report[0], spec.program.string());
}

result<void> child_process::confirm_exec() {
    if (exec_report_ < 0) return {};
    const int exec_errno = read_exec_error(exec_report_);
    close_report();
    if (exec_errno == 0) return {};
    kill_and_reap();
    return fail(loadgen_errc::spawn_failed,
                fmt::format("cannot run {}: {}", program_, std::strerror(exec_errno)));
}

void child_process::close_report() {
    if (exec_report_ >= 0) ::close(std::exchange(exec_report_, -1));
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      status_(std::exchange(other.status_, std::nullopt)),
      exec_report_(std::exchange(other.exec_report_, -1)),
      program_(std::move(other.program_)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        if (running()) kill_and_reap();
        close_report();
        pid_ = std::exchange(other.pid_, -1);
        status_ = std::exchange(other.status_, std::nullopt);
        exec_report_ = std::exchange(other.exec_report_, -1);
        program_ = std::move(other.program_);
    }
    return *this;
}

child_process::~child_process() {
    if (running()) kill_and_reap();
    close_report();
}

bool child_process::poll() {
    if (!running()) return pid_ > 0;
    int wstatus = 0;
    const pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) status_ = decode(wstatus);
    if (r < 0 && errno == ECHILD) status_ = exit_status{};  // reaped elsewhere: unknown status
    return status_.has_value();
}

void child_process::send(int signo) const {
    if (!running()) return;
    // The child leads its own process group; signal the group, or the pid if setpgid failed.
    if (::kill(-pid_, signo) != 0) ::kill(pid_, signo);
}

void child_process::kill_and_reap() {
    if (!running()) return;
    send(SIGKILL);
    int wstatus = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid_, &wstatus, 0);
    } while (r < 0 && errno == EINTR);
    status_ = r == pid_ ? decode(wstatus) : exit_status{};
}

void child_process::terminate(std::chrono::milliseconds grace) {
    if (!running()) return;
    send(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (!poll() && std::chrono::steady_clock::now() < deadline) {
        wait_for_event(poll_step);
    }
    kill_and_reap();
}

result<exit_status> run_to_end(const spawn_spec& spec, std::chrono::milliseconds timeout) {
    auto child = child_process::spawn(spec);
    if (!child) return std::unexpected(child.error());
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!child->poll()) {
        if (stop_signal() != 0) {
            child->kill_and_reap();
            return fail(loadgen_errc::interrupted, "interrupted");
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            child->kill_and_reap();
            return fail(loadgen_errc::timed_out,
                        fmt::format("{} did not finish in time", spec.program.filename().string()));
        }
        wait_for_event(poll_step);
    }
    return *child->status();
}

}  // namespace minibit::loadgen
