#include "reactor_heartbeat.hpp"

#include <utility>

namespace minibit::apps {

reactor_heartbeat::reactor_heartbeat(unsigned reactors, post_fn post)
    : reactors_(reactors), post_(std::move(post)) {
    start_round();
}

bool reactor_heartbeat::poll() {
    if (answers_->load(std::memory_order_acquire) < reactors_) return false;
    start_round();
    return true;
}

void reactor_heartbeat::start_round() {
    answers_ = std::make_shared<std::atomic<unsigned>>(0);
    for (unsigned i = 0; i < reactors_; ++i) {
        post_(i, [answers = answers_] { answers->fetch_add(1, std::memory_order_release); });
    }
}

}  // namespace minibit::apps
