#include "minibit/io/runner.hpp"

#include <sched.h>

#include <condition_variable>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

namespace minibit::io {

struct runner::slot {
    std::thread thread;
    std::mutex mutex;         // guards `loop`: other threads post/stop while it lives
    reactor* loop = nullptr;  // set while the reactor exists; owned by the thread
};

namespace {

/// Start-up rendezvous: each thread runs its init in index order and reports once, success or
/// the error that stopped it.
struct startup {
    std::mutex mutex;
    std::condition_variable cv;
    unsigned next_init = 0;  ///< the thread whose turn it is to run init
    std::optional<error> first_error;
};

/// One reactor thread: create the reactor, init in turn, run, finish.
void thread_main(runner_options options, unsigned index, const std::shared_ptr<startup>& gate,
                 const init_fn& init, const finish_fn& finish, std::mutex& loop_mutex,
                 reactor*& loop) {
    auto made = make_reactor(options.backend, options.reactor);
    {
        std::unique_lock lock(gate->mutex);
        gate->cv.wait(lock, [&] { return gate->next_init == index; });
        if (!made && !gate->first_error) {
            gate->first_error = made.error();
        }
    }
    if (made) {
        {
            std::lock_guard lock(loop_mutex);
            loop = made->get();
        }
        if (init) {
            init(**made, index);
        }
    }
    {
        std::lock_guard lock(gate->mutex);
        ++gate->next_init;
    }
    gate->cv.notify_all();
    if (!made) {
        return;
    }
    [[maybe_unused]] auto r = (*made)->run();
    {
        std::lock_guard lock(loop_mutex);
        loop = nullptr;
    }
    if (finish) {
        finish(**made, index);
    }
}

}  // namespace

unsigned usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
        return static_cast<unsigned>(CPU_COUNT(&set));
    }
    return std::max(1U, std::thread::hardware_concurrency());
}

result<std::unique_ptr<runner>> runner::start(const runner_options& options, const init_fn& init,
                                              const finish_fn& finish) {
    unsigned n = options.threads;
    if (n == 0) {
        n = usable_cpus();
    }
    // spdlog builds its registry on first use; build it here, before the threads that all log,
    // so no two of them race to create it (TSan saw exactly that in the tracker's start).
    (void)spdlog::default_logger_raw();
    std::unique_ptr<runner> self(new runner());
    auto gate = std::make_shared<startup>();
    for (unsigned i = 0; i < n; ++i) {
        self->slots_.push_back(std::make_unique<slot>());
    }
    for (unsigned i = 0; i < n; ++i) {
        slot* s = self->slots_[i].get();
        s->thread = std::thread([s, i, gate, options, init, finish] {
            thread_main(options, i, gate, init, finish, s->mutex, s->loop);
        });
    }
    std::unique_lock lock(gate->mutex);
    gate->cv.wait(lock, [&] { return gate->next_init == n; });
    if (gate->first_error) {
        auto err = *gate->first_error;
        lock.unlock();
        self->stop();
        self->join();
        return std::unexpected(err);
    }
    return self;
}

runner::~runner() {
    stop();
    join();
}

unsigned runner::size() const {
    return static_cast<unsigned>(slots_.size());
}

void runner::post(unsigned index, task_fn task) {
    if (index >= slots_.size()) {
        return;
    }
    std::lock_guard lock(slots_[index]->mutex);
    if (slots_[index]->loop != nullptr) {
        slots_[index]->loop->post(std::move(task));
    }
}

void runner::stop() {
    for (auto& s : slots_) {
        std::lock_guard lock(s->mutex);
        if (s->loop != nullptr) {
            s->loop->stop();
        }
    }
}

void runner::join() {
    for (auto& s : slots_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
    }
}

}  // namespace minibit::io
