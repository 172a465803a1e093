// agent, what the API reads: a torrent's view from its entry and the figures its shard
// publishes when asked (every shard refreshes and its board is copied once per list, not once
// per torrent), the list, the
// list's text with each torrent's text cached until its view changes, and the agent-wide status.
// Home reactor thread only.
#include <future>

#include <fmt/format.h>

#include "agent_entry.hpp"
#include "minibit/agent/agent.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "peer_router.hpp"
#include "shard.hpp"

namespace minibit::agent {

torrent_view agent::view(const entry& e) const {
    if (e.running) shards_[e.shard]->refresh(e.info.hash);
    const auto f = e.running ? shards_[e.shard]->figures(e.info.hash) : std::nullopt;
    return view(e, f ? &*f : nullptr);
}

std::vector<std::map<info_hash, torrent_figures>> agent::boards() const {
    // Every shard refreshes its figures at once, in parallel; then the boards are copied.
    std::vector<std::future<void>> fresh;
    fresh.reserve(shards_.size());
    for (const auto& s : shards_) fresh.push_back(s->refresh());
    for (auto& f : fresh) {
        try {
            f.get();
        } catch (const std::future_error&) {
            // that shard has stopped: its last figures stand
        }
    }
    std::vector<std::map<info_hash, torrent_figures>> out;
    out.reserve(shards_.size());
    for (const auto& s : shards_) out.push_back(s->board());
    return out;
}

torrent_view agent::view(const entry& e, const torrent_figures* f) const {
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
    if (e.running && f != nullptr) {
        v.pieces_have = f->pieces_have;
        v.bytes_left = f->bytes_left;
        v.bytes_downloaded = f->bytes_downloaded;
        v.bytes_uploaded = f->bytes_uploaded;
        v.download_rate = f->download_rate;
        v.upload_rate = f->upload_rate;
        v.peers = f->peers;
        v.tracker_error = f->tracker_error;
    }
    fill_seeding_view(e, v, f);
    if (e.removing) {
        v.state = torrent_state::removing;
    } else if (!e.error.empty()) {
        v.state = torrent_state::error;
    } else if (e.settings.paused || !e.running) {
        v.state = torrent_state::paused;
    } else if (f == nullptr) {
        v.state = torrent_state::checking;  // its shard is opening it
    } else {
        v.state = f->complete ? torrent_state::seeding : torrent_state::downloading;
    }
    if (e.settings.finished && !e.removing && e.error.empty() && !e.running) {
        v.state = torrent_state::finished;
    }
    return v;
}

std::vector<torrent_view> agent::list() const {
    const auto all = boards();
    std::vector<torrent_view> out;
    out.reserve(torrents_.size());
    for (const auto& [hash, e] : torrents_) {
        const auto& board = all[e->shard];
        const auto f = e->running ? board.find(hash) : board.end();
        out.push_back(view(*e, f == board.end() ? nullptr : &f->second));
    }
    return out;
}

std::string agent::render_all(const render_fn& render, std::string_view separator) const {
    const auto all = boards();
    std::string out;
    for (const auto& [hash, e] : torrents_) {
        const auto& board = all[e->shard];
        const auto f = e->running ? board.find(hash) : board.end();
        auto v = view(*e, f == board.end() ? nullptr : &f->second);
        if (!e->rendered_view || *e->rendered_view != v) {
            e->rendered_text = render(v);
            e->rendered_view = std::move(v);
        }
        if (!out.empty()) out += separator;
        out += e->rendered_text;
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

agent_status agent::status() const {
    agent_status s;
    s.uptime = std::chrono::duration_cast<std::chrono::seconds>(reactor_.now() - started_);
    s.port = port();
    s.torrents = torrents_.size();
    s.bytes_downloaded = retired_down_;
    s.bytes_uploaded = retired_up_;
    const auto all = boards();
    for (const auto& [hash, e] : torrents_) {
        if (!e->running) continue;
        ++s.active;
        const auto& board = all[e->shard];
        const auto f = board.find(hash);
        if (f == board.end()) continue;
        s.bytes_downloaded += f->second.bytes_downloaded;
        s.bytes_uploaded += f->second.bytes_uploaded;
        s.peers += f->second.peers;
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

}  // namespace minibit::agent
