#include "minibit/io/worker_pool.hpp"

#include <algorithm>
#include <utility>

#include "minibit/io/runner.hpp"

namespace minibit::io {

worker_pool::worker_pool(unsigned threads) {
    if (threads == 0) {
        threads = usable_cpus();
    }
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { work(); });
    }
}

worker_pool::~worker_pool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
}

void worker_pool::submit(job_fn job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
}

void worker_pool::work() {
    for (;;) {
        job_fn job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                return;  // stopping and drained
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace minibit::io
