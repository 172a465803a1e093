// Whether every reactor thread still runs its loop, for the systemd watchdog: a round posts a
// no-op to each reactor that counts its answer, and the next round starts only once all of
// them answered. A wedged reactor (a loop stuck in a callback) never answers, so the rounds
// stop and the process stops feeding the watchdog. Nothing is posted twice to a reactor that
// has not answered, so a wedged one does not pile up tasks. poll() on one thread; the answers
// arrive on the reactor threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "minibit/io/reactor.hpp"

namespace minibit::apps {

class reactor_heartbeat {
public:
    /// Posts `task` to reactor `index` (tracker_server::post, io::runner::post).
    using post_fn = std::function<void(unsigned index, io::task_fn task)>;

    /// `reactors` threads reached through `post`; the first round starts at once.
    reactor_heartbeat(unsigned reactors, post_fn post);

    /// True when every reactor answered the current round; then the next round starts.
    [[nodiscard]] bool poll();

private:
    void start_round();

    unsigned reactors_;
    post_fn post_;
    /// Answers of the current round; shared with its posted tasks, which may outlive this.
    std::shared_ptr<std::atomic<unsigned>> answers_;
};

}  // namespace minibit::apps
