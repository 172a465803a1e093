// agent, seeding: the seed goals (seed_policy.hpp) checked once a second while any torrent has
// one, scrapes of the tracker for min_seeders goals, a torrent whose goal is met stopped as
// "finished" (its data stays; saved, so it stays finished after a restart), and complete data
// opened read-only (read-only files and mounts can be seeded; anything to write reopens it
// read-write at its next start).
#include <sys/stat.h>

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent_entry.hpp"
#include "minibit/agent/agent.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "state_store.hpp"

namespace minibit::agent {
namespace {

using namespace std::chrono_literals;

/// Every file of the torrent is a regular file of its exact length under `dir`.
bool data_complete_on_disk(const metainfo& info, const std::filesystem::path& dir) {
    for (const auto& f : info.files) {
        struct stat st {};
        const auto p = dir / f.path;
        if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
            static_cast<std::uint64_t>(st.st_size) != f.length) {
            return false;
        }
    }
    return true;
}

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

result<std::unique_ptr<swarm::session>> agent::open_session(entry& e,
                                                            const swarm::session_options& so) {
    if (data_complete_on_disk(e.info, e.settings.data_dir)) {
        // Probe read-only: what it verifies goes into the resume record, so the open that
        // follows (read-only when complete, read-write to download) trusts it instead of
        // hashing everything again.
        auto ro = so;
        ro.store.access = storage::access_mode::read_only;
        auto probe = storage::piece_store::open(e.info, e.settings.data_dir, ro.store);
        if (probe) {
            const bool complete = (*probe)->have().all();
            (void)(*probe)->save_resume();
            probe->reset();
            if (complete) {
                auto s = swarm::session::open(reactor_, e.info, e.settings.data_dir, ro);
                if (s && (*s)->get().complete()) {
                    e.read_only = true;
                    return s;
                }
            }
        }
    }
    e.read_only = false;
    return swarm::session::open(reactor_, e.info, e.settings.data_dir, so);
}

seed_policy agent::goal_of(const entry& e) const {
    return e.settings.seed.value_or(options_.seed);
}

void agent::fill_seeding_view(const entry& e, torrent_view& v) const {
    v.seed = goal_of(e);
    v.seed_default = !e.settings.seed.has_value();
    v.seeded_seconds = e.settings.seeded_seconds + e.seeded_ms_run / 1000;
    v.uploaded_total = e.settings.uploaded;
    if (e.session) {
        v.uploaded_total += e.session->get().stats().payload_bytes_up - e.uploaded_folded;
    }
    v.scrape_seeders = e.scrape_seeders;
    v.finished = e.finished;
    v.max_connections = e.settings.max_connections != 0 ? e.settings.max_connections
                                                        : options_.torrent.max_peers;
    v.read_only = e.session != nullptr && e.read_only;
}

void agent::fold_seed_progress(entry& e) {
    if (e.session) {
        const auto up = e.session->get().stats().payload_bytes_up;
        e.settings.uploaded += up - e.uploaded_folded;
        e.uploaded_folded = up;
    }
    e.settings.seeded_seconds += e.seeded_ms_run / 1000;
    e.seeded_ms_run %= 1000;
}

void agent::reset_seed_progress(entry& e) {
    e.settings.seeded_seconds = 0;
    e.settings.uploaded = 0;
    e.seeded_ms_run = 0;
    e.uploaded_folded = 0;
    e.last_seed_check = {};
    e.scrape_seeders.reset();
    e.finished.clear();
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
    std::vector<entry*> running;
    for (auto& [hash, e] : torrents_) {
        if (e->session && !e->removing && !e->stopping && e->error.empty() &&
            !e->settings.finished && e->session->get().complete()) {
            running.push_back(e.get());
        } else {
            e->last_seed_check = {};
        }
    }
    for (entry* e : running) check_one(*e, now);
}

void agent::check_one(entry& e, io::reactor::clock::time_point now) {
    if (e.last_seed_check != io::reactor::clock::time_point{}) {
        e.seeded_ms_run += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - e.last_seed_check).count());
    }
    e.last_seed_check = now;
    const seed_policy goal = goal_of(e);
    if (goal.forever()) return;
    seed_progress p;
    p.seeded_seconds = e.settings.seeded_seconds + e.seeded_ms_run / 1000;
    p.uploaded = e.settings.uploaded + e.session->get().stats().payload_bytes_up -
                 e.uploaded_folded;
    p.size = e.info.total_length;
    p.seeders = e.scrape_seeders;
    if (auto why = goal_reached(goal, p)) {
        finish_entry(e, *why);
        return;
    }
    if (goal.min_seeders && !e.scraping && now >= e.next_scrape) {
        const std::string tracker = scrape_tracker(e.info);
        e.next_scrape = now + options_.scrape_interval;
        if (!scraper_ && !tracker.empty()) {
            auto made = swarm::scrape_client::create(reactor_, scrape_options_of(options_.tracker));
            if (made) scraper_ = std::move(*made);
        }
        if (scraper_ && !tracker.empty()) {
            e.scraping = true;
            const info_hash hash = e.info.hash;
            scraper_->scrape(
                tracker, hash, scope_.guard([this, hash](result<swarm::scrape_counts> r) {
                    auto it = torrents_.find(hash);
                    if (it == torrents_.end()) return;
                    it->second->scraping = false;
                    // A count that lands after the goal was met (the tracker may already have
                    // our `stopped`) is not the one that met it: the view keeps that one.
                    if (it->second->settings.finished) return;
                    if (!r) {
                        spdlog::warn("torrent {}: {}", hash.hex(), r.error().message());
                        return;
                    }
                    it->second->scrape_seeders = r->seeders;
                }));
        }
    }
}

void agent::finish_entry(entry& e, const std::string& why) {
    fold_seed_progress(e);
    auto next = e.settings;
    next.finished = true;
    if (auto saved = state_->save_settings(e.info.hash, next); !saved) {
        spdlog::error("torrent {}: {}", e.info.hash.hex(), saved.error().message());
    }
    e.settings = next;
    e.finished = why;
    spdlog::info("torrent {} ({}): seeding finished: {}", e.info.hash.hex(), e.info.name, why);
    const info_hash hash = e.info.hash;
    stop_entry(e, [this, hash, why] {
        if (auto it = torrents_.find(hash); it != torrents_.end()) {
            emit("finished", *it->second, why);
        }
    });
}

}  // namespace minibit::agent
