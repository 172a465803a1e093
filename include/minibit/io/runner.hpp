// Runs N threads, each owning one reactor created on that thread, with a per-thread init
// callback (set up listeners, timers, ...) run in thread order, and a per-thread finish callback
// run on each thread once its loop ended, while its reactor still exists (tear down what lives
// there). Start, post and stop may be called from any thread; the destructor stops and joins.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/io/reactor.hpp"

namespace minibit::io {

/// The CPUs this process may run on (its affinity mask: taskset, systemd's CPUAffinity=,
/// a container's cpuset), at least 1; what "one per core" means for every thread-count default.
[[nodiscard]] unsigned usable_cpus();

struct runner_options {
    unsigned threads = 0;  ///< 0 = usable_cpus()
    backend_kind backend = backend_kind::auto_select;
    reactor_options reactor;
};

/// Runs on each reactor's thread before its loop starts; `index` is 0..threads-1. Thread k's
/// init starts only after thread k-1's returned, so an init may use what earlier ones set up
/// (the port thread 0 bound) without waiting for it.
using init_fn = std::function<void(reactor& r, unsigned index)>;
/// Runs on each reactor's thread after its loop returned, before the reactor is destroyed; also
/// when start() fails because another thread's reactor could not be created.
using finish_fn = std::function<void(reactor& r, unsigned index)>;

/// A group of reactor threads.
class runner {
public:
    /// Starts the threads and waits until every reactor exists and ran `init`; fails if any
    /// reactor could not be created (then every thread ran `finish` and was joined).
    [[nodiscard]] static result<std::unique_ptr<runner>> start(const runner_options& options,
                                                               const init_fn& init,
                                                               const finish_fn& finish = {});
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;
    ~runner();

    /// Number of reactor threads.
    [[nodiscard]] unsigned size() const;
    /// Runs `task` on reactor `index`'s thread; any thread.
    void post(unsigned index, task_fn task);
    /// Asks every reactor to stop; any thread.
    void stop();
    /// Waits for every thread to end (call stop() first or from a reactor callback).
    void join();

private:
    runner() = default;
    struct slot;
    std::vector<std::unique_ptr<slot>> slots_;
};

}  // namespace minibit::io
