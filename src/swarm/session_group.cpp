#include "minibit/swarm/session_group.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/io/port_owner.hpp"
#include "minibit/io/runner.hpp"
#include "minibit/io/worker_pool.hpp"

namespace minibit::swarm {
namespace {

/// What each shard gets of the torrent-wide limits: connections and unchoke slots are split
/// (at least one each), so the group as a whole keeps the configured totals.
session_options shard_options(session_options o, unsigned shards, std::uint16_t port) {
    o.port = port;
    o.torrent.max_peers = std::max(1U, o.torrent.max_peers / shards);
    o.torrent.unchoke_slots = std::max(1U, o.torrent.unchoke_slots / shards);
    return o;
}

/// The group's listen address with port 0 resolved to one nobody holds; refused when another
/// process holds it (io/port_owner.hpp: only this group's reactors may share the port).
result<io::address> claim_port(const session_options& o) {
    const bool v6 = o.listen_host.find(':') != std::string::npos;
    auto addr = io::address::parse(v6 ? fmt::format("[{}]:{}", o.listen_host, o.port)
                                      : fmt::format("{}:{}", o.listen_host, o.port));
    if (!addr)
        return fail(swarm_errc::listen_failed, "bad listen address: " + addr.error().message());
    auto picked = io::pick_free_port(*addr, io::transport::tcp);
    if (!picked) return fail(swarm_errc::listen_failed, picked.error().message());
    if (auto sole = io::check_sole_owner(*picked, io::transport::tcp); !sole) {
        return std::unexpected(sole.error());
    }
    return picked;
}

}  // namespace

result<std::unique_ptr<session_group>> session_group::start(metainfo info,
                                                            const std::filesystem::path& folder,
                                                            session_options options,
                                                            group_options group) {
    unsigned n = group.threads == 0 ? io::usable_cpus() : group.threads;
    const auto listen_at = claim_port(options);
    if (!listen_at) return std::unexpected(listen_at.error());
    options.port = listen_at->port();
    auto store = storage::piece_store::open(info, folder, options.store);
    if (!store) {
        return fail(swarm_errc::storage, store.error().message());
    }
    std::shared_ptr<storage::piece_store> shared_store = std::move(*store);
    std::unique_ptr<session_group> g(new session_group());
    g->info_ = info;
    g->set_ = std::make_shared<shard_set>(n, info.piece_count());
    for (piece_index p{0}; p.get() < info.piece_count(); ++p) {
        if (shared_store->have().test(p)) {
            (void)g->set_->pieces->mark_verified(p);  // present at open (resume or hashing)
        }
    }
    g->sessions_.resize(n);
    std::vector<std::optional<error>> errors(n);
    // One hashing pool for every shard (unless the caller shares one of its own).
    if (!options.torrent.hashing) {
        options.torrent.hashing = std::make_shared<io::worker_pool>();
    }
    session_group* self = g.get();
    io::runner_options ro;
    ro.threads = n;
    ro.backend = group.backend;
    ro.reactor = group.reactor;
    // The runner inits the threads in order: shard 0 binds first (port 0 = any), and the others
    // join its port with SO_REUSEPORT.
    auto init = [&, self](io::reactor& r, unsigned k) {
        const std::uint16_t port = k == 0 ? options.port
                                          : (self->sessions_[0] ? self->sessions_[0]->port() : 0);
        if (k != 0 && port == 0) {
            errors[k] = make_error(swarm_errc::listen_failed, "the first shard could not listen");
            return;
        }
        auto s = session::open_shard(r, info, shared_store, self->set_, k,
                                     shard_options(options, n, port));
        if (!s) {
            errors[k] = s.error();
            return;
        }
        (*s)->get().set_on_error([self](const error& e) {
            std::lock_guard lock(self->failure_mutex_);
            if (!self->failure_) self->failure_ = e;
        });
        self->sessions_[k] = std::move(*s);
    };
    // Each shard dies on its own thread, after its loop ended: also when start fails below.
    auto finish = [self](io::reactor&, unsigned k) { self->sessions_[k].reset(); };
    auto runner = io::runner::start(ro, init, finish);
    if (!runner) {
        return std::unexpected(runner.error());
    }
    g->runner_ = std::move(*runner);
    g->running_ = true;
    g->port_ = g->sessions_[0] ? g->sessions_[0]->port() : 0;
    for (auto& e : errors) {
        if (e) {
            g->stop(std::chrono::milliseconds(0));
            return std::unexpected(*e);
        }
    }
    // Again now that every shard listens: a process that bound the port meanwhile shows up.
    if (auto sole = io::check_sole_owner(*listen_at, io::transport::tcp); !sole) {
        g->stop(std::chrono::milliseconds(0));
        return std::unexpected(sole.error());
    }
    for (unsigned k = 0; k < n; ++k) {
        g->post(k, [](session& s) { s.start(); });
    }
    return g;
}

session_group::~session_group() {
    stop();
}

void session_group::post(unsigned k, std::function<void(session&)> fn) {
    if (!runner_ || k >= sessions_.size()) {
        return;
    }
    runner_->post(k, [this, k, fn = std::move(fn)] {
        if (sessions_[k]) fn(*sessions_[k]);
    });
}

void session_group::on_each(const std::function<void(unsigned, std::function<void()>)>& fn,
                            std::chrono::milliseconds wait) {
    struct countdown {
        std::mutex mutex;
        std::condition_variable cv;
        unsigned left = 0;
    };
    auto c = std::make_shared<countdown>();
    c->left = static_cast<unsigned>(sessions_.size());
    for (unsigned k = 0; k < sessions_.size(); ++k) {
        runner_->post(k, [k, fn, c] {
            fn(k, [c] {
                std::lock_guard lock(c->mutex);
                --c->left;
                c->cv.notify_all();
            });
        });
    }
    std::unique_lock lock(c->mutex);
    c->cv.wait_for(lock, wait, [&] { return c->left == 0; });
}

void session_group::stop(std::chrono::milliseconds wait) {
    if (!running_) {
        return;
    }
    running_ = false;
    // Stop each shard (the first announces `stopped`, bounded by the tracker timeout)...
    on_each(
        [this](unsigned k, std::function<void()> done) {
            if (sessions_[k]) {
                sessions_[k]->stop(std::move(done));
            } else {
                done();
            }
        },
        wait);
    // ...then end the loops: the runner's finish hook destroys each shard on its own thread.
    runner_->stop();
    runner_->join();
}

std::uint64_t session_group::bytes_left() const {
    std::uint64_t left = 0;
    for (piece_index p{0}; p.get() < info_.piece_count(); ++p) {
        if (!set_->pieces->is_verified(p)) {
            left += info_.piece_size(p);
        }
    }
    return left;
}

torrent_stats session_group::shard_stats(unsigned k) const {
    if (k >= set_->members.size()) {
        return {};
    }
    std::lock_guard lock(set_->members[k]->stats_mutex);
    return set_->members[k]->stats;
}

std::optional<error> session_group::failure() const {
    std::lock_guard lock(failure_mutex_);
    return failure_;
}

}  // namespace minibit::swarm
