#include "minibit/io/runner.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>

namespace minibit::io {

struct runner::slot {
    std::thread thread;
    std::mutex mutex;          // guards `loop`: other threads post/stop while it lives
    reactor* loop = nullptr;   // set while the reactor exists; owned by the thread
};

namespace {

/// Start-up rendezvous: each thread reports once, success or the error that stopped it.
struct startup {
    std::mutex mutex;
    std::condition_variable cv;
    unsigned reported = 0;
    std::optional<error> first_error;
};

}  // namespace

result<std::unique_ptr<runner>> runner::start(const runner_options& options, init_fn init) {
    unsigned n = options.threads;
    if (n == 0) {
        n = std::max(1U, std::thread::hardware_concurrency());
    }
    std::unique_ptr<runner> self(new runner());
    auto gate = std::make_shared<startup>();
    for (unsigned i = 0; i < n; ++i) {
        self->slots_.push_back(std::make_unique<slot>());
    }
    for (unsigned i = 0; i < n; ++i) {
        slot* s = self->slots_[i].get();
        s->thread = std::thread([s, i, gate, options, init] {
            auto made = make_reactor(options.backend, options.reactor);
            if (made) {
                std::lock_guard lock(s->mutex);
                s->loop = made->get();
            } else {
                std::lock_guard lock(gate->mutex);
                if (!gate->first_error) {
                    gate->first_error = made.error();
                }
            }
            if (made && init) {
                init(**made, i);
            }
            {
                std::lock_guard lock(gate->mutex);
                ++gate->reported;
            }
            gate->cv.notify_all();
            if (made) {
                [[maybe_unused]] auto r = (*made)->run();
                std::lock_guard lock(s->mutex);
                s->loop = nullptr;
            }
        });
    }
    std::unique_lock lock(gate->mutex);
    gate->cv.wait(lock, [&] { return gate->reported == n; });
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

unsigned runner::size() const { return static_cast<unsigned>(slots_.size()); }

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
