#include "shard.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <utility>

#include <spdlog/spdlog.h>

#include "minibit/agent/agent.hpp"

namespace minibit::agent {
namespace {

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

/// A session for `info`: read-only (`read_only` set) when its data is complete, else
/// read-write.
result<std::unique_ptr<swarm::session>> open_session(io::reactor& loop, const metainfo& info,
                                                     const std::filesystem::path& folder,
                                                     const swarm::session_options& so,
                                                     bool& read_only) {
    read_only = false;
    if (data_complete_on_disk(info, folder)) {
        // Probe read-only: what it verifies goes into the resume record, so the open that
        // follows (read-only when complete, read-write to download) trusts it instead of
        // hashing everything again.
        auto ro = so;
        ro.store.access = storage::access_mode::read_only;
        auto probe = storage::piece_store::open(info, folder, ro.store);
        if (probe) {
            const bool complete = (*probe)->have().all();
            (void)(*probe)->save_resume();
            probe->reset();
            if (complete) {
                auto s = swarm::session::open(loop, info, folder, ro);
                if (s && (*s)->get().complete()) {
                    read_only = true;
                    return s;
                }
            }
        }
    }
    return swarm::session::open(loop, info, folder, so);
}

}  // namespace

socket_handoff::~socket_handoff() {
    if (fd_ >= 0) ::close(fd_);
}

void shard_link::run(std::function<void(shard&)> fn) const {
    post_.post([self = self_, fn = std::move(fn)] { fn(*self); });
}

bool shard_link::call(const std::function<void(shard&)>& fn) const {
    if (std::this_thread::get_id() == thread_) {
        fn(*self_);
        return true;
    }
    // The promise travels with the task: a task dropped with its shard breaks it.
    auto ran = std::make_shared<std::promise<void>>();
    auto done = ran->get_future();
    run([ran, &fn](shard& s) {
        fn(s);
        ran->set_value();
    });
    ran.reset();
    try {
        done.get();
        return true;
    } catch (const std::future_error&) {
        return false;
    }
}

std::future<void> shard_link::refresh() const {
    auto done = std::make_shared<std::promise<void>>();
    auto ready = done->get_future();
    if (std::this_thread::get_id() == thread_) {
        self_->publish_all();
        done->set_value();
        return ready;
    }
    run([done](shard& s) {
        s.publish_all();
        done->set_value();
    });
    return ready;
}

void shard_link::refresh(const info_hash& hash) const {
    [[maybe_unused]] const bool ran = call([&hash](shard& s) { s.publish(hash); });
}

std::map<info_hash, torrent_figures> shard_link::board() const {
    std::lock_guard lock(mutex_);
    return board_;
}

std::optional<torrent_figures> shard_link::figures(const info_hash& hash) const {
    std::lock_guard lock(mutex_);
    auto it = board_.find(hash);
    if (it == board_.end()) return std::nullopt;
    return it->second;
}

void shard_link::forget(const info_hash& hash) {
    std::lock_guard lock(mutex_);
    board_.erase(hash);
}

shard::shard(io::reactor& loop) : loop_(loop), link_(std::make_shared<shard_link>()), scope_(loop) {
    link_->self_ = this;
    link_->thread_ = std::this_thread::get_id();
    link_->post_ = scope_.share();
}

shard::~shard() {
    sessions_.clear();
    stopping_.clear();  // while the reactor they use still lives
}

torrent_figures shard::figures_of(const swarm::session& s) {
    const auto st = s.get().stats();
    torrent_figures f;
    f.pieces_have = st.pieces_have;
    f.bytes_left = s.get().bytes_left();
    f.bytes_downloaded = st.payload_bytes_down;
    f.bytes_uploaded = st.payload_bytes_up;
    f.download_rate = st.download_rate;
    f.upload_rate = st.upload_rate;
    f.peers = st.peers_connected;
    f.complete = s.get().complete();
    if (const auto* t = s.tracker(); t != nullptr) f.tracker_error = t->last_error();
    return f;
}

void shard::publish_all() {
    std::map<info_hash, torrent_figures> fresh;
    for (const auto& [hash, s] : sessions_) fresh.emplace(hash, figures_of(*s));
    std::lock_guard lock(link_->mutex_);
    for (auto& [hash, f] : fresh) link_->board_[hash] = std::move(f);
}

void shard::publish(const info_hash& hash) {
    auto it = sessions_.find(hash);
    if (it == sessions_.end()) return;
    auto f = figures_of(*it->second);
    std::lock_guard lock(link_->mutex_);
    link_->board_[hash] = std::move(f);
}

result<bool> shard::start(const metainfo& info, const std::filesystem::path& folder,
                          const swarm::session_options& options,
                          std::function<void(const error&)> on_error) {
    const info_hash hash = info.hash;
    if (sessions_.contains(hash)) {
        return fail(agent_errc::busy, "the torrent runs already");
    }
    bool read_only = false;
    auto s = open_session(loop_, info, folder, options, read_only);
    if (!s) return std::unexpected(s.error());
    (*s)->get().set_on_error(std::move(on_error));
    (*s)->start();
    auto& session = *sessions_.emplace(hash, std::move(*s)).first->second;
    auto f = figures_of(session);
    std::lock_guard lock(link_->mutex_);
    link_->board_[hash] = std::move(f);
    return read_only;
}

void shard::set_max_peers(const info_hash& hash, std::uint32_t n) {
    if (auto it = sessions_.find(hash); it != sessions_.end()) it->second->get().set_max_peers(n);
}

void shard::stop(const info_hash& hash, std::function<void(std::optional<torrent_figures>)> done) {
    auto it = sessions_.find(hash);
    if (it == sessions_.end()) {
        done(std::nullopt);
        return;
    }
    auto last = figures_of(*it->second);
    const std::uint64_t key = next_stop_++;
    swarm::session* s = stopping_.emplace(key, std::move(it->second)).first->second.get();
    sessions_.erase(it);
    s->stop([this, key, last = std::move(last), done = std::move(done)]() mutable {
        // Destroy the session outside its own tracker's callback.
        scope_.post([this, key, last = std::move(last), done = std::move(done)]() mutable {
            stopping_.erase(key);
            done(std::move(last));
        });
    });
}

void shard::adopt(const info_hash& hash, socket_handoff& socket, const io::address& peer,
                  const std::string& received) {
    auto it = sessions_.find(hash);
    if (it == sessions_.end()) {
        return;  // stopped meanwhile: the handoff closes the socket
    }
    const int fd = socket.take();
    auto conn = loop_.adopt_socket(fd);
    if (!conn) {
        ::close(fd);
        spdlog::warn("peer {}: cannot adopt its connection: {}", peer.to_string(),
                     conn.error().message());
        return;
    }
    it->second->adopt(*conn, peer,
                      std::as_bytes(std::span<const char>(received.data(), received.size())));
}

}  // namespace minibit::agent
