#include "folder_removal.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <string>
#include <system_error>
#include <thread>

namespace minibit::loadgen {
namespace {

constexpr std::size_t removal_threads = 16;  // folders removed at once when done here
constexpr const char* rm_program = "/bin/rm";
constexpr int ioprio_class_idle = 3;  // IOPRIO_CLASS_IDLE of linux/ioprio.h
constexpr int ioprio_class_shift = 13;

// In the middle child, between fork and exec: only async-signal-safe calls. The grandchild
// runs rm at idle priority with no terminal, signals or descriptors of the driver; the middle
// child exits at once, so the driver reaps it now and init adopts the grandchild.
[[noreturn]] void start_detached_rm(const char* target) {
    if (::setsid() < 0 || ::fork() != 0) ::_exit(0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpriority(PRIO_PROCESS, 0, 19);
    ::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
              ioprio_class_idle << ioprio_class_shift);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
    }
    const char* argv[] = {"rm", "-rf", "--", target, nullptr};
    ::execv(rm_program, const_cast<char* const*>(argv));
    ::_exit(127);
}

// True when the detached remover was started (the middle child exited 0).
bool spawn_remover(const std::filesystem::path& target) {
    if (::access(rm_program, X_OK) != 0) return false;
    const std::string path = target.string();
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) start_detached_rm(path.c_str());
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

void remove_folders(const std::vector<std::filesystem::path>& folders) {
    std::atomic<std::size_t> next{0};
    const auto worker = [&] {
        for (std::size_t i = next++; i < folders.size(); i = next++) {
            std::error_code ec;
            std::filesystem::remove_all(folders[i], ec);
        }
    };
    std::vector<std::jthread> pool;
    const std::size_t n = std::min(folders.size(), removal_threads);
    for (std::size_t t = 1; t < n; ++t) pool.emplace_back(worker);
    worker();
}

bool remove_in_background(const std::filesystem::path& parent,
                          const std::vector<std::filesystem::path>& folders) {
    const auto trash = parent / (std::string(removal_prefix) + std::to_string(::getpid()));
    std::error_code ec;
    std::filesystem::remove_all(trash, ec);  // a pid reused from an earlier run
    if (!std::filesystem::create_directory(trash, ec)) {
        remove_folders(folders);
        return false;
    }
    std::vector<std::filesystem::path> left;  // could not be moved: removed here
    for (const auto& f : folders) {
        std::filesystem::rename(f, trash / f.filename(), ec);
        if (ec && ec != std::errc::no_such_file_or_directory) left.push_back(f);
    }
    const bool detached = spawn_remover(trash);
    if (!detached) left.push_back(trash);
    remove_folders(left);
    return detached;
}

}  // namespace minibit::loadgen
