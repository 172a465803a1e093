// agent, settings at run time: a reload (SIGHUP re-reading the config file) applies the rate
// caps, the connection limits, the default seed goal, the scrape interval and the watch folder
// at once, and names every other setting that changed but takes a restart; a torrent's own
// connection limit changed through the API. The agent's home thread; what a running session
// must change is posted to its shard's thread.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent_entry.hpp"
#include "minibit/agent/agent.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "shard.hpp"
#include "watch_folder.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

namespace {

/// One line per setting that differs between `now` and `next` and cannot change at run time.
std::vector<std::string> needs_restart(const agent_options& now, const agent_options& next) {
    std::vector<std::string> out;
    const auto differs = [&out](std::string_view name, bool changed) {
        if (changed) out.push_back(fmt::format("{} changed: needs a restart", name));
    };
    differs("state-dir", fs::absolute(now.state_dir) != fs::absolute(next.state_dir));
    differs("download-dir",
            fs::weakly_canonical(now.download_dir) != fs::weakly_canonical(next.download_dir));
    differs("listen", now.listen != next.listen);
    differs("io", now.backend != next.backend);
    differs("hashing-threads", now.hashing_threads != next.hashing_threads);
    differs("rechoke-interval", now.torrent.rechoke_interval != next.torrent.rechoke_interval);
    return out;
}

}  // namespace

result<std::vector<std::string>> agent::reconfigure(const agent_options& next) {
    std::error_code ec;
    if (!next.watch_dir.empty() && !fs::is_directory(next.watch_dir, ec)) {
        return fail(agent_errc::bad_path,
                    fmt::format("watch folder {} does not exist", next.watch_dir.string()));
    }
    auto restart = needs_restart(options_, next);
    if (!(next.caps == caps())) set_caps(next.caps);
    if (next.max_connections != budget_->limit()) {
        budget_->set_limit(next.max_connections);
        spdlog::info("connection limit: {} (0: none)", next.max_connections);
    }
    if (next.torrent.max_peers != options_.torrent.max_peers) {
        options_.torrent.max_peers = next.torrent.max_peers;
        // Each session changes on its own shard's thread.
        for (auto& [hash, e] : torrents_) {
            if (e->running && e->settings.max_connections == 0) {
                shards_[e->shard]->run(
                    [h = hash, n = next.torrent.max_peers](shard& s) { s.set_max_peers(h, n); });
            }
        }
        spdlog::info("connections per torrent: {}", next.torrent.max_peers);
    }
    if (!(next.seed == options_.seed)) {
        options_.seed = next.seed;
        spdlog::info("default seed goal: {}", seed_policy_json(next.seed));
    }
    options_.scrape_interval = next.scrape_interval;
    if (next.watch_dir != options_.watch_dir) {
        watch_.reset();
        options_.watch_dir = next.watch_dir;
        if (!next.watch_dir.empty()) {
            watch_ = std::make_unique<watch_folder>(reactor_, *this, next.watch_dir);
            watch_->start();
        }
        spdlog::info("watch folder: {}",
                     next.watch_dir.empty() ? std::string("none") : next.watch_dir.string());
    }
    arm_seed_watch();
    return restart;
}

result<torrent_view> agent::set_max_connections(const info_hash& hash, std::uint32_t n) {
    auto e = lookup(hash);
    if (!e) {
        return std::unexpected(e.error());
    }
    entry& ref = **e;
    auto next = ref.settings;
    next.max_connections = n;
    if (auto saved = state_->save_settings(hash, next); !saved) {
        return std::unexpected(saved.error());
    }
    ref.settings = next;
    if (ref.running) {
        shards_[ref.shard]->run([hash, n = n != 0 ? n : options_.torrent.max_peers](shard& s) {
            s.set_max_peers(hash, n);
        });
    }
    return view(ref);
}

}  // namespace minibit::agent
