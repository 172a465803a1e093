#include "sigbus_guard.hpp"

#include <csetjmp>
#include <csignal>
#include <mutex>

namespace minibit::storage {

namespace {

// The innermost guarded call's jump target on this thread, or null. A plain pointer with
// static initialisation, so the handler may read it (initial-exec TLS, no lazy allocation).
thread_local sigjmp_buf* active_guard = nullptr;
struct sigaction previous_action {};
std::once_flag install_flag;

void on_sigbus(int sig, siginfo_t* info, void* ucontext) {
    sigjmp_buf* target = active_guard;
    if (target != nullptr && info != nullptr && info->si_code > 0) {
        active_guard = nullptr;
        // SA_NODEFER left SIGBUS unblocked, so a jump without restoring the mask is fine.
        siglongjmp(*target, 1);
    }
    // Not ours: hand over to whoever was there before.
    if ((previous_action.sa_flags & SA_SIGINFO) != 0 && previous_action.sa_sigaction != nullptr) {
        previous_action.sa_sigaction(sig, info, ucontext);
        return;
    }
    if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN &&
        previous_action.sa_handler != nullptr) {
        previous_action.sa_handler(sig);
        return;
    }
    ::signal(SIGBUS, SIG_DFL);
    ::raise(SIGBUS);
}

void install_handler() {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &previous_action);
}

}  // namespace

bool run_guarded_raw(void (*fn)(void*), void* ctx) {
    std::call_once(install_flag, install_handler);
    sigjmp_buf* const outer = active_guard;
    sigjmp_buf env;
    // savemask 0: no sigprocmask system call per access (the handler runs with SA_NODEFER).
    if (sigsetjmp(env, 0) != 0) {
        active_guard = outer;
        return false;
    }
    active_guard = &env;
    fn(ctx);
    active_guard = outer;
    return true;
}

}  // namespace minibit::storage
