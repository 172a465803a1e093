// agent, events for GET /v1/events: added, paused, resumed, removed and error as they happen;
// progress (verified piece counts) and completed from a scan once a second, run only while
// someone subscribes. Subscribers may come and go from inside a callback.
#include <fmt/format.h>

#include "agent_entry.hpp"
#include "minibit/agent/agent.hpp"
#include "shard.hpp"

namespace minibit::agent {

std::uint64_t agent::subscribe(event_fn fn) {
    if (subscribers_.empty()) {
        scan_events(false);  // what is already known is not news
    }
    const std::uint64_t id = next_subscriber_++;
    subscribers_.emplace(id, std::move(fn));
    if (!scanning_) {
        scanning_ = true;
        scope_.add_timer(std::chrono::seconds(1), [this] { scan_events(true); });
    }
    return id;
}

void agent::unsubscribe(std::uint64_t id) {
    subscribers_.erase(id);
}

void agent::emit(std::string_view kind, const entry& e, std::string reason) {
    if (subscribers_.empty()) {
        return;
    }
    const torrent_view v = view(e);
    agent_event ev{kind, e.info.hash, v.pieces_have, v.piece_count, v.error, std::move(reason)};
    std::vector<std::uint64_t> ids;
    ids.reserve(subscribers_.size());
    for (const auto& [id, fn] : subscribers_) ids.push_back(id);
    for (const auto id : ids) {
        auto it = subscribers_.find(id);
        if (it == subscribers_.end()) continue;
        auto fn = it->second;  // a copy: the callback may unsubscribe itself
        fn(ev);
    }
}

void agent::scan_events(bool report) {
    if (report && subscribers_.empty()) {
        scanning_ = false;  // the next subscriber starts the scan again
        return;
    }
    const auto all = boards();
    for (auto& [hash, e] : torrents_) {
        if (!e->running || e->removing) continue;
        const auto& board = all[e->shard];
        const auto f = board.find(hash);
        if (f == board.end()) continue;
        const auto have = f->second.pieces_have;
        const bool complete = f->second.complete;
        if (have != e->reported_have) {
            e->reported_have = have;
            if (report) emit("progress", *e);
        }
        if (complete != e->reported_complete) {
            e->reported_complete = complete;
            if (report && complete) emit("completed", *e);
        }
        if (!e->error.empty() && !e->reported_error) {
            e->reported_error = true;
            if (report) emit("error", *e);
        }
    }
    if (!report) {
        return;
    }
    scope_.add_timer(std::chrono::seconds(1), [this] { scan_events(true); });
}

}  // namespace minibit::agent
