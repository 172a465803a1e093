#include "minibit/agent/agent.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent_entry.hpp"
#include "agent_paths.hpp"
#include "minibit/io/worker_pool.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "peer_router.hpp"
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
    torrents_.clear();  // sessions go before the hashing pool they use
}

result<std::unique_ptr<agent>> agent::open(io::reactor& reactor, agent_options options) {
    std::unique_ptr<agent> a(new agent(reactor, std::move(options)));
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

swarm::session* agent::route(const info_hash& hash) {
    auto it = torrents_.find(hash);
    if (it == torrents_.end() || it->second->removing || !it->second->error.empty()) {
        return nullptr;
    }
    return it->second->session.get();
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
    auto s = open_session(e, so);
    if (!s) {
        e.error = s.error().message();
        return std::unexpected(s.error());
    }
    e.error.clear();
    e.session = std::move(*s);
    const info_hash hash = e.info.hash;
    e.session->get().set_on_error(scope_.guard([this, hash](const error& err) {
        if (auto it = torrents_.find(hash); it != torrents_.end()) {
            it->second->error = err.message();
            it->second->reported_error = true;
            emit("error", *it->second);
        }
    }));
    e.session->start();
    return {};
}

void agent::stop_entry(entry& e, std::function<void()> done) {
    if (!e.session) {
        if (done) done();
        return;
    }
    const auto st = e.session->get().stats();
    e.last_have = st.pieces_have;
    e.last_left = e.session->get().bytes_left();
    fold_seed_progress(e);
    e.uploaded_folded = 0;
    if (!goal_of(e).forever() && !e.settings.finished && !e.removing) {
        (void)state_->save_settings(e.info.hash, e.settings);  // seeding time and upload so far
    }
    retired_down_ += st.payload_bytes_down;
    retired_up_ += st.payload_bytes_up;
    e.stopping = true;
    auto holder = std::make_shared<std::unique_ptr<swarm::session>>(std::move(e.session));
    const info_hash hash = e.info.hash;
    swarm::session* s = holder->get();
    s->stop([this, holder, hash, done = std::move(done)]() mutable {
        // Destroy the session outside its own tracker's callback.
        scope_.post([this, holder, hash, done = std::move(done)] {
            holder->reset();
            auto it = torrents_.find(hash);
            if (it != torrents_.end()) {
                it->second->stopping = false;
                auto waiting = std::move(it->second->after_stop);
                it->second->after_stop.clear();
                for (auto& fn : waiting) fn();
            }
            if (done) done();
        });
    });
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

torrent_view agent::view(const entry& e) const {
    torrent_view v;
    v.hash = e.info.hash;
    v.name = e.info.name;
    v.data_dir = e.settings.data_dir;
    v.caps = {e.settings.max_upload, e.settings.max_download};
    v.piece_count = e.info.piece_count();
    v.total_bytes = e.info.total_length;
    v.pieces_have = e.last_have;
    v.bytes_left = e.last_left;
    v.error = e.error;
    if (e.session) {
        const auto st = e.session->get().stats();
        v.pieces_have = st.pieces_have;
        v.bytes_left = e.session->get().bytes_left();
        v.bytes_downloaded = st.payload_bytes_down;
        v.bytes_uploaded = st.payload_bytes_up;
        v.download_rate = st.download_rate;
        v.upload_rate = st.upload_rate;
        v.peers = st.peers_connected;
        if (const auto* t = e.session->tracker(); t != nullptr) {
            v.tracker_error = t->last_error();
        }
    }
    fill_seeding_view(e, v);
    if (e.removing) {
        v.state = torrent_state::removing;
    } else if (!e.error.empty()) {
        v.state = torrent_state::error;
    } else if (e.settings.paused || !e.session) {
        v.state = torrent_state::paused;
    } else {
        v.state = e.session->get().complete() ? torrent_state::seeding : torrent_state::downloading;
    }
    if (e.settings.finished && !e.removing && e.error.empty() && !e.session) {
        v.state = torrent_state::finished;
    }
    return v;
}

result<torrent_view> agent::add(const add_request& request) {
    std::string bytes = request.torrent_bytes;
    if (request.torrent_path) {
        auto where = confine(*request.torrent_path);
        if (!where) {
            return std::unexpected(where.error());
        }
        std::ifstream in(*where, std::ios::binary);
        if (!in) {
            return fail(agent_errc::bad_path, fmt::format("cannot read {}", where->string()));
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        bytes = ss.str();
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
    auto e = std::make_unique<entry>();
    e->info = std::move(*info);
    e->torrent_bytes = std::move(bytes);
    e->settings.data_dir = *data_dir;
    e->settings.paused = request.paused;
    e->settings.seed = request.seed;
    e->settings.max_connections = request.max_connections;
    e->last_left = e->info.total_length;
    e->limits = make_limits(e->settings, global_up_, global_down_);
    if (!request.paused) {
        if (auto started = start_entry(*e); !started) {
            return fail(agent_errc::storage, started.error().message());
        }
    }
    if (auto saved = state_->save(e->info.hash, e->torrent_bytes, e->settings); !saved) {
        stop_entry(*e, nullptr);
        return std::unexpected(saved.error());
    }
    const info_hash hash = e->info.hash;
    spdlog::info("added torrent {} ({}) into {}", hash.hex(), e->info.name,
                 e->settings.data_dir.string());
    auto& ref = *torrents_.emplace(hash, std::move(e)).first->second;
    emit("added", ref);
    arm_seed_watch();
    return view(ref);
}

std::vector<torrent_view> agent::list() const {
    std::vector<torrent_view> out;
    out.reserve(torrents_.size());
    for (const auto& [hash, e] : torrents_) {
        out.push_back(view(*e));
    }
    return out;
}

result<torrent_view> agent::find(const info_hash& hash) const {
    auto it = torrents_.find(hash);
    if (it == torrents_.end()) {
        return fail(agent_errc::not_found, fmt::format("no torrent {}", hash.hex()));
    }
    return view(*it->second);
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
    if (ref.session && ref.error.empty()) {
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
    if (ref.session || ref.stopping) {
        // A failed session is still there, or the last one is still stopping: start afresh
        // once it is gone (two stores on one folder at once could undo each other's files).
        if (ref.session) stop_entry(ref, nullptr);
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

agent_status agent::status() const {
    agent_status s;
    s.uptime = std::chrono::duration_cast<std::chrono::seconds>(reactor_.now() - started_);
    s.port = port();
    s.torrents = torrents_.size();
    s.bytes_downloaded = retired_down_;
    s.bytes_uploaded = retired_up_;
    for (const auto& [hash, e] : torrents_) {
        if (!e->session) continue;
        ++s.active;
        const auto st = e->session->get().stats();
        s.bytes_downloaded += st.payload_bytes_down;
        s.bytes_uploaded += st.payload_bytes_up;
        s.peers += st.peers_connected;
    }
    s.caps = caps();
    s.connections = budget_->used();
    s.max_connections = budget_->limit();
    s.max_connections_per_torrent = options_.torrent.max_peers;
    s.refused_for_limit = budget_->refused();  // the global limit's and every torrent's
    if (router_) {
        s.routed_connections = router_->routed();
        s.refused_connections = router_->refused();
    }
    return s;
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
        if (e->session) {
            ++*left;
            stop_entry(*e, one_done);
        }
    }
    one_done();
}

}  // namespace minibit::agent
