// agent, seeding: the seed goals (seed_policy.hpp) checked once a second while any torrent has
// one, scrapes of the tracker for min_seeders goals, a torrent whose goal is met stopped as
// "finished" (its data stays; saved, so it stays finished after a restart), and complete data
// opened read-only (read-only files and mounts can be seeded; anything to write reopens it
// read-write at its next start; the opening runs on the torrent's shard: shard.cpp).
// Goals are checked on the agent's home thread from the figures every shard publishes.
#include <chrono>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent_entry.hpp"
#include "minibit/agent/agent.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "shard.hpp"
#include "state_store.hpp"

namespace minibit::agent {
namespace {

using namespace std::chrono_literals;

/// The first http(s) or udp:// tracker of the torrent (scrapes go there), or "".
std::string scrape_tracker(const metainfo& info) {
    for (const auto& tier : info.tracker_tiers()) {
        for (const auto& url : tier) {
            if (url.starts_with("http://") || url.starts_with("https://") ||
                url.starts_with("udp://")) {
                return url;
            }
        }
    }
    return {};
}

/// The scrape client's tunables: the agent's tracker timeouts.
swarm::scrape_options scrape_options_of(const swarm::tracker_options& t) {
    swarm::scrape_options o;
    o.ca_file = t.ca_file;
    o.http_timeout = t.http_timeout;
    o.udp_timeout = t.udp_timeout;
    o.udp_attempts = t.udp_attempts;
    return o;
}

}  // namespace

seed_policy agent::goal_of(const entry& e) const {
    return e.settings.seed.value_or(options_.seed);
}

void agent::fill_seeding_view(const entry& e, torrent_view& v, const torrent_figures* f) const {
    v.seed = goal_of(e);
    v.seed_default = !e.settings.seed.has_value();
    v.seeded_seconds = e.settings.seeded_seconds + e.seeding.seeded_ms / 1000;
    v.uploaded_total = e.settings.uploaded;
    if (e.running && f != nullptr && f->bytes_uploaded >= e.seeding.uploaded_folded) {
        v.uploaded_total += f->bytes_uploaded - e.seeding.uploaded_folded;
    }
    v.scrape_seeders = e.seeding.scrape_seeders;
    v.finished = e.seeding.finished;
    v.max_connections = e.settings.max_connections != 0 ? e.settings.max_connections
                                                        : options_.torrent.max_peers;
    v.read_only = e.running && e.read_only;
}

void agent::fold_seed_progress(entry& e, const torrent_figures* f) {
    if (e.running && f != nullptr && f->bytes_uploaded >= e.seeding.uploaded_folded) {
        e.settings.uploaded += f->bytes_uploaded - e.seeding.uploaded_folded;
        e.seeding.uploaded_folded = f->bytes_uploaded;
    }
    e.settings.seeded_seconds += e.seeding.seeded_ms / 1000;
    e.seeding.seeded_ms %= 1000;
}

void agent::reset_seed_progress(entry& e) {
    e.settings.seeded_seconds = 0;
    e.settings.uploaded = 0;
    e.seeding = {};
}

void agent::arm_seed_watch() {
    if (seed_watch_) return;
    bool wanted = !options_.seed.forever();
    for (const auto& [hash, e] : torrents_) {
        wanted = wanted || (e->settings.seed && !e->settings.seed->forever());
    }
    if (!wanted) return;
    seed_watch_ = true;
    scope_.add_timer(1s, [this] {
        seed_watch_ = false;
        check_seeding();
        arm_seed_watch();
    });
}

void agent::check_seeding() {
    const auto now = reactor_.now();
    // Fresh figures from every shard at once; the torrents' sessions run there.
    const auto all = boards();
    std::vector<std::pair<entry*, torrent_figures>> running;
    for (auto& [hash, e] : torrents_) {
        const auto& board = all[e->shard];
        const auto f = e->running ? board.find(hash) : board.end();
        if (f != board.end() && !e->removing && !e->stopping && e->error.empty() &&
            !e->settings.finished && f->second.complete) {
            running.emplace_back(e.get(), f->second);
        } else {
            e->seeding.last_check = {};
        }
    }
    for (auto& [e, f] : running) check_one(*e, now, f);
}

void agent::check_one(entry& e, io::reactor::clock::time_point now, const torrent_figures& f) {
    seed_run& run = e.seeding;
    if (run.last_check != io::reactor::clock::time_point{}) {
        run.seeded_ms += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - run.last_check).count());
    }
    run.last_check = now;
    const seed_policy goal = goal_of(e);
    if (goal.forever()) return;
    seed_progress p;
    p.seeded_seconds = e.settings.seeded_seconds + run.seeded_ms / 1000;
    p.uploaded = e.settings.uploaded + f.bytes_uploaded - run.uploaded_folded;
    p.size = e.info.total_length;
    p.seeders = run.scrape_seeders;
    if (auto why = goal_reached(goal, p)) {
        finish_entry(e, *why, f);
        return;
    }
    if (goal.min_seeders && !run.scraping && now >= run.next_scrape) {
        const std::string tracker = scrape_tracker(e.info);
        run.next_scrape = now + options_.scrape_interval;
        if (!scraper_ && !tracker.empty()) {
            auto made = swarm::scrape_client::create(reactor_, scrape_options_of(options_.tracker));
            if (made) scraper_ = std::move(*made);
        }
        if (scraper_ && !tracker.empty()) {
            run.scraping = true;
            const info_hash hash = e.info.hash;
            scraper_->scrape(
                tracker, hash, scope_.guard([this, hash](result<swarm::scrape_counts> r) {
                    auto it = torrents_.find(hash);
                    if (it == torrents_.end()) return;
                    it->second->seeding.scraping = false;
                    // A count that lands after the goal was met (the tracker may already have
                    // our `stopped`) is not the one that met it: the view keeps that one.
                    if (it->second->settings.finished) return;
                    if (!r) {
                        spdlog::warn("torrent {}: {}", hash.hex(), r.error().message());
                        return;
                    }
                    it->second->seeding.scrape_seeders = r->seeders;
                }));
        }
    }
}

void agent::finish_entry(entry& e, const std::string& why, const torrent_figures& f) {
    fold_seed_progress(e, &f);
    auto next = e.settings;
    next.finished = true;
    if (auto saved = state_->save_settings(e.info.hash, next); !saved) {
        spdlog::error("torrent {}: {}", e.info.hash.hex(), saved.error().message());
    }
    e.settings = next;
    e.seeding.finished = why;
    spdlog::info("torrent {} ({}): seeding finished: {}", e.info.hash.hex(), e.info.name, why);
    const info_hash hash = e.info.hash;
    stop_entry(e, [this, hash, why] {
        if (auto it = torrents_.find(hash); it != torrents_.end()) {
            emit("finished", *it->second, why);
        }
    });
}

}  // namespace minibit::agent
