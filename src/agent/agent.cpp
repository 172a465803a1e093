#include "minibit/agent/agent.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent_entry.hpp"
#include "agent_paths.hpp"
#include "minibit/io/worker_pool.hpp"
#include "minibit/storage/piece_store.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "peer_router.hpp"
#include "shard.hpp"
#include "state_store.hpp"
#include "watch_folder.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

std::string_view to_string(torrent_state s) {
    switch (s) {
    case torrent_state::checking: return "checking";
    case torrent_state::downloading: return "downloading";
    case torrent_state::seeding: return "seeding";
    case torrent_state::paused: return "paused";
    case torrent_state::error: return "error";
    case torrent_state::removing: return "removing";
    case torrent_state::finished: return "finished";
    }
    return "unknown";
}

agent::agent(io::reactor& reactor, agent_options options)
    : reactor_(reactor),
      options_(std::move(options)),
      global_up_(std::make_shared<swarm::rate_limiter>(options_.caps.upload)),
      global_down_(std::make_shared<swarm::rate_limiter>(options_.caps.download)),
      budget_(std::make_shared<swarm::connection_budget>(options_.max_connections)),
      started_(reactor.now()),
      scope_(reactor) {}

namespace {

/// A torrent's buckets: its own caps first, then the agent's.
std::shared_ptr<swarm::transfer_limits> make_limits(
    const torrent_settings& s, const std::shared_ptr<swarm::rate_limiter>& up,
    const std::shared_ptr<swarm::rate_limiter>& down) {
    auto l = std::make_shared<swarm::transfer_limits>();
    l->upload = {std::make_shared<swarm::rate_limiter>(s.max_upload), up};
    l->download = {std::make_shared<swarm::rate_limiter>(s.max_download), down};
    return l;
}

}  // namespace

agent::~agent() {
    watch_.reset();
    router_.reset();
    own_shard_.reset();  // its sessions go before the hashing pool they use
    torrents_.clear();
}

result<std::unique_ptr<agent>> agent::open(io::reactor& reactor, agent_options options,
                                           const std::vector<shard*>& shards) {
    std::unique_ptr<agent> a(new agent(reactor, std::move(options)));
    if (shards.empty()) {
        a->own_shard_ = std::make_unique<shard>(reactor);
        a->shards_.push_back(a->own_shard_->link());
    }
    for (auto* s : shards) a->shards_.push_back(s->link());
    a->assigned_.assign(a->shards_.size(), 0);
    std::error_code ec;
    if (!fs::is_directory(a->options_.download_dir, ec)) {
        return fail(agent_errc::bad_path, fmt::format("download folder {} does not exist",
                                                      a->options_.download_dir.string()));
    }
    a->options_.download_dir = fs::canonical(a->options_.download_dir, ec);
    auto state = state_store::open(a->options_.state_dir);
    if (!state) {
        return std::unexpected(state.error());
    }
    a->state_ = std::move(*state);
    auto router = peer_router::open(reactor, a->options_.listen,
                                    [p = a.get()](const info_hash& h) { return p->route(h); });
    if (!router) {
        return std::unexpected(router.error());
    }
    a->router_ = std::move(*router);
    a->port_ = a->router_->port();
    a->router_->set_budget(a->budget_);
    a->hashing_ = std::make_shared<io::worker_pool>(a->options_.hashing_threads);
    a->load_saved();
    a->arm_seed_watch();
    if (!a->options_.watch_dir.empty()) {
        if (!fs::is_directory(a->options_.watch_dir, ec)) {
            return fail(agent_errc::bad_path, fmt::format("watch folder {} does not exist",
                                                          a->options_.watch_dir.string()));
        }
        a->watch_ = std::make_unique<watch_folder>(reactor, *a, a->options_.watch_dir);
        a->watch_->start();
    }
    return a;
}

void agent::load_saved() {
    auto loaded = state_->load();
    warnings_ = std::move(loaded.warnings);
    for (auto& saved : loaded.torrents) {
        auto e = std::make_unique<entry>();
        e->info = std::move(saved.info);
        e->torrent_bytes = std::move(saved.torrent_bytes);
        e->settings = std::move(saved.settings);
        e->last_left = e->info.total_length;
        e->limits = make_limits(e->settings, global_up_, global_down_);
        entry& ref = *e;
        const info_hash hash = e->info.hash;
        torrents_.emplace(hash, std::move(e));
        assign(ref);
        if (storage::flat_layout_found(ref.info, ref.settings.data_dir)) {
            warnings_.push_back(fmt::format(
                "torrent {} ({}): its files lie directly in {}; a multi-file torrent's files "
                "belong in {}/ now: move them there, or it downloads them again there",
                hash.hex(), ref.info.name, ref.settings.data_dir.string(),
                (ref.settings.data_dir / ref.info.name).string()));
        }
        if (!ref.settings.paused && !ref.settings.finished) {
            if (auto started = start_entry(ref); !started) {
                warnings_.push_back(fmt::format("torrent {} ({}): {}", hash.hex(), ref.info.name,
                                                started.error().message()));
            }
        }
    }
}

std::uint16_t agent::port() const {
    return port_;
}

std::shared_ptr<shard_link> agent::route(const info_hash& hash) const {
    auto it = torrents_.find(hash);
    if (it == torrents_.end() || it->second->removing || !it->second->error.empty() ||
        !it->second->running) {
        return nullptr;
    }
    return shards_[it->second->shard];
}

void agent::assign(entry& e) {
    const auto fewest = std::min_element(assigned_.begin(), assigned_.end());
    e.shard = static_cast<std::size_t>(fewest - assigned_.begin());
    ++*fewest;
}

result<void> agent::start_entry(entry& e) {
    swarm::session_options so;
    so.listen = swarm::listen_mode::shared;
    so.port = port_;
    so.torrent = options_.torrent;
    so.torrent.hashing = hashing_;
    so.torrent.limits = e.limits;
    so.torrent.connections = budget_;
    if (e.settings.max_connections != 0) so.torrent.max_peers = e.settings.max_connections;
    so.tracker = options_.tracker;
    so.store.resume_path = state_->resume_path(e.info.hash);
    so.store.allocation = storage::allocation_mode::sparse;
    const info_hash hash = e.info.hash;
    auto home = scope_.share();
    auto failed = [this, home, hash](const error& err) {
        home.post([this, hash, why = err.message()] { session_failed(hash, why); });
    };
    // Opened on the shard's thread while this one waits: the caller learns at once whether the
    // data opens, and the torrent's state is known when the answer goes out.
    result<bool> started = fail(agent_errc::state, "its reactor thread has stopped");
    shards_[e.shard]->call(
        [&](shard& s) { started = s.start(e.info, e.settings.data_dir, so, failed); });
    if (!started) {
        e.error = started.error().message();
        return std::unexpected(started.error());
    }
    e.error.clear();
    e.read_only = *started;
    e.running = true;
    return {};
}

void agent::session_failed(const info_hash& hash, const std::string& why) {
    auto it = torrents_.find(hash);
    if (it == torrents_.end() || !it->second->running) return;
    spdlog::error("torrent {}: {}", hash.hex(), why);
    it->second->error = why;
    it->second->reported_error = true;
    emit("error", *it->second);
}

void agent::stop_entry(entry& e, std::function<void()> done) {
    if (!e.running) {
        if (done) done();
        return;
    }
    shards_[e.shard]->refresh(e.info.hash);
    const auto f = shards_[e.shard]->figures(e.info.hash);
    if (f) {
        e.last_have = f->pieces_have;  // until the shard reports its very last figures
        e.last_left = f->bytes_left;
    }
    fold_seed_progress(e, f ? &*f : nullptr);
    e.seeding.uploaded_folded = 0;
    if (!goal_of(e).forever() && !e.settings.finished && !e.removing) {
        (void)state_->save_settings(e.info.hash, e.settings);  // seeding time and upload so far
    }
    e.running = false;
    e.stopping = true;
    auto home = scope_.share();
    const info_hash hash = e.info.hash;
    shards_[e.shard]->run([this, home, hash, done = std::move(done)](shard& s) mutable {
        s.stop(hash, [this, home, hash,
                      done = std::move(done)](std::optional<torrent_figures> last) mutable {
            home.post([this, hash, last = std::move(last), done = std::move(done)] {
                session_stopped(hash, last, done);
            });
        });
    });
}

void agent::session_stopped(const info_hash& hash, const std::optional<torrent_figures>& last,
                            const std::function<void()>& done) {
    auto it = torrents_.find(hash);
    if (it != torrents_.end()) {
        entry& e = *it->second;
        if (last) {
            e.last_have = last->pieces_have;
            e.last_left = last->bytes_left;
            retired_down_ += last->bytes_downloaded;
            retired_up_ += last->bytes_uploaded;
        }
        if (!e.running) shards_[e.shard]->forget(hash);
        e.stopping = false;
        auto waiting = std::move(e.after_stop);
        e.after_stop.clear();
        for (auto& fn : waiting) fn();
    }
    if (done) done();
}

result<agent::entry*> agent::lookup(const info_hash& hash) const {
    auto it = torrents_.find(hash);
    if (it == torrents_.end()) {
        return fail(agent_errc::not_found, fmt::format("no torrent {}", hash.hex()));
    }
    if (it->second->removing) {
        return fail(agent_errc::busy, fmt::format("torrent {} is being removed", hash.hex()));
    }
    return it->second.get();
}

result<fs::path> agent::confine(const fs::path& p) const {
    return confine_path(p, options_.download_dir);
}

result<torrent_view> agent::add(const add_request& request) {
    std::string bytes = request.torrent_bytes;
    if (request.torrent_path) {
        auto where = confine(*request.torrent_path);
        if (!where) {
            return std::unexpected(where.error());
        }
        auto read = read_torrent_file(*where);
        if (!read) {
            return fail(agent_errc::bad_path, fmt::format("cannot read {}", read.error().reason));
        }
        bytes = std::move(*read);
    }
    auto info = parse_metainfo(bytes);
    if (!info) {
        return fail(agent_errc::bad_torrent, "bad torrent: " + info.error().message());
    }
    if (torrents_.contains(info->hash)) {
        return fail(agent_errc::duplicate,
                    fmt::format("torrent {} is already present", info->hash.hex()));
    }
    auto data_dir = confine(request.data_dir.value_or(options_.download_dir));
    if (!data_dir) {
        return std::unexpected(data_dir.error());
    }
    for (const auto& [other_hash, other] : torrents_) {
        if (auto p = shared_path(other->info, other->settings.data_dir, *info, *data_dir)) {
            return fail(
                agent_errc::duplicate,
                fmt::format("{} is a path of torrent {} ({}) too: add this one into another "
                            "folder (data_dir)",
                            p->string(), other_hash.hex(), other->info.name));
        }
    }
    auto e = std::make_unique<entry>();
    e->info = std::move(*info);
    e->torrent_bytes = std::move(bytes);
    e->settings.data_dir = *data_dir;
    e->settings.paused = request.paused;
    e->settings.seed = request.seed;
    e->settings.max_connections = request.max_connections;
    e->last_left = e->info.total_length;
    e->limits = make_limits(e->settings, global_up_, global_down_);
    if (auto saved = state_->save(e->info.hash, e->torrent_bytes, e->settings); !saved) {
        return std::unexpected(saved.error());
    }
    const info_hash hash = e->info.hash;
    auto& ref = *torrents_.emplace(hash, std::move(e)).first->second;
    assign(ref);
    spdlog::info("added torrent {} ({}) into {} (reactor {})", hash.hex(), ref.info.name,
                 ref.settings.data_dir.string(), ref.shard);
    if (!request.paused) {
        if (auto started = start_entry(ref); !started) {
            state_->forget(hash);
            --assigned_[ref.shard];
            torrents_.erase(hash);
            return fail(agent_errc::storage, started.error().message());
        }
    }
    emit("added", ref);
    arm_seed_watch();
    return view(ref);
}

result<torrent_view> agent::pause(const info_hash& hash) {
    auto e = lookup(hash);
    if (!e) {
        return std::unexpected(e.error());
    }
    entry& ref = **e;
    if (!ref.settings.paused) {
        auto next = ref.settings;
        next.paused = true;
        if (auto saved = state_->save_settings(hash, next); !saved) {
            return std::unexpected(saved.error());
        }
        ref.settings = next;
        stop_entry(ref, nullptr);
        emit("paused", ref);
    }
    return view(ref);
}

result<torrent_view> agent::resume(const info_hash& hash) {
    auto e = lookup(hash);
    if (!e) {
        return std::unexpected(e.error());
    }
    entry& ref = **e;
    if (ref.running && ref.error.empty()) {
        return view(ref);  // running already
    }
    auto next = ref.settings;
    next.paused = false;
    if (next.finished) {  // seeding again: the goal counts afresh
        next.finished = false;
        next.seeded_seconds = 0;
        next.uploaded = 0;
    }
    if (auto saved = state_->save_settings(hash, next); !saved) {
        return std::unexpected(saved.error());
    }
    if (ref.settings.finished) reset_seed_progress(ref);
    ref.settings = next;
    ref.error.clear();
    ref.reported_error = false;
    emit("resumed", ref);
    auto restart = [this, hash] {
        auto it = torrents_.find(hash);
        if (it == torrents_.end() || it->second->removing || it->second->settings.paused) {
            return;
        }
        if (auto started = start_entry(*it->second); !started) {
            spdlog::error("torrent {}: {}", hash.hex(), started.error().message());
        }
    };
    if (ref.running || ref.stopping) {
        // A failed session is still there, or the last one is still stopping: start afresh
        // once it is gone (two stores on one folder at once could undo each other's files).
        if (ref.running) stop_entry(ref, nullptr);
        ref.after_stop.emplace_back(restart);
    } else {
        restart();
    }
    return view(ref);
}

result<void> agent::remove(const info_hash& hash, bool delete_data,
                           std::function<void(result<void>)> done) {
    auto e = lookup(hash);
    if (!e) {
        return std::unexpected(e.error());
    }
    entry& ref = **e;
    ref.removing = true;
    auto finish = [this, hash, delete_data, done = std::move(done)] {
        auto it = torrents_.find(hash);
        if (it == torrents_.end()) {
            return;
        }
        if (delete_data) {
            const auto n = delete_torrent_files(it->second->info, it->second->settings.data_dir);
            spdlog::info("torrent {}: {} files deleted", hash.hex(), n);
        }
        state_->forget(hash);
        emit("removed", *it->second);
        --assigned_[it->second->shard];
        torrents_.erase(it);
        spdlog::info("removed torrent {}", hash.hex());
        if (done) done({});
    };
    if (ref.stopping) {
        ref.after_stop.emplace_back(std::move(finish));
    } else {
        stop_entry(ref, std::move(finish));
    }
    return {};
}

rate_caps agent::caps() const {
    return {global_up_->rate(), global_down_->rate()};
}

void agent::set_caps(rate_caps caps) {
    global_up_->set_rate(caps.upload);
    global_down_->set_rate(caps.download);
    spdlog::info("global rate caps: upload {} B/s, download {} B/s (0: none)", caps.upload,
                 caps.download);
}

result<rate_caps> agent::caps(const info_hash& hash) const {
    auto e = lookup(hash);
    if (!e) return std::unexpected(e.error());
    return rate_caps{(*e)->settings.max_upload, (*e)->settings.max_download};
}

result<torrent_view> agent::set_caps(const info_hash& hash, rate_caps caps) {
    auto e = lookup(hash);
    if (!e) {
        return std::unexpected(e.error());
    }
    entry& ref = **e;
    auto next = ref.settings;
    next.max_upload = caps.upload;
    next.max_download = caps.download;
    if (auto saved = state_->save_settings(hash, next); !saved) {
        return std::unexpected(saved.error());
    }
    ref.settings = next;
    ref.limits->upload[0]->set_rate(caps.upload);
    ref.limits->download[0]->set_rate(caps.download);
    return view(ref);
}

void agent::shutdown(std::function<void()> done) {
    watch_.reset();
    router_.reset();  // no new connections
    auto left = std::make_shared<std::size_t>(1);
    auto one_done = [left, done = std::move(done)] {
        if (--*left == 0 && done) done();
    };
    for (auto& [hash, e] : torrents_) {
        if (e->running) {
            ++*left;
            stop_entry(*e, one_done);
        } else if (e->stopping) {
            ++*left;  // paused a moment ago: its stop is still on its way
            e->after_stop.emplace_back(one_done);
        }
    }
    one_done();
}

}  // namespace minibit::agent
