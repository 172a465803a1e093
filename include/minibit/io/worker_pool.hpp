// A small pool of threads for blocking work that must stay off the reactor threads (hashing a
// completed piece costs milliseconds). Jobs run in submission order, each on some worker; a job
// that needs to report back posts through its component's io::scope (dropped should the component
// be gone by then). A program makes one pool and hands it to what needs it; there is no
// process-wide instance. submit() from any thread; the destructor runs every queued job, then
// joins (so it must not be destroyed from one of its own jobs).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace minibit::io {

/// A job for a worker thread.
using job_fn = std::function<void()>;

class worker_pool {
public:
    /// Starts `threads` workers (0 = one per core).
    explicit worker_pool(unsigned threads = 0);
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;
    ~worker_pool();

    /// Queues a job; any thread. The queue lock is taken once per job (a whole piece), never
    /// per block or per socket event.
    void submit(job_fn job);
    /// Number of worker threads.
    [[nodiscard]] unsigned size() const { return static_cast<unsigned>(threads_.size()); }

private:
    void work();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<job_fn> jobs_;  ///< guarded by mutex_
    bool stopping_ = false;    ///< guarded by mutex_
    std::vector<std::thread> threads_;
};

}  // namespace minibit::io
