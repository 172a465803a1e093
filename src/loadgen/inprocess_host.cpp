#include "inprocess_host.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/io/runner.hpp"
#include "minibit/swarm/connection_budget.hpp"
#include "minibit/swarm/rate_limiter.hpp"
#include "minibit/swarm/session.hpp"
#include "peer_log.hpp"

namespace minibit::loadgen {

using namespace std::chrono_literals;

/// One in-process peer's state, shared by its host (driver thread) and its reactor thread.
struct inprocess_peer {
    explicit inprocess_peer(io::reactor& r) : reactor(r) {}

    io::reactor& reactor;
    std::atomic<bool> completed{false};  // every piece verified (release/acquire: a flag only)
    std::atomic<bool> ended{false};      // the session is gone; `status` is set
    // When the reactor began this peer's stop (steady_clock ticks; 0: not yet). The driver's
    // grace counts from here, not from its request, which may wait behind other peers' stops.
    std::atomic<std::int64_t> stop_began{0};
    std::mutex mutex;  // guards status
    std::condition_variable changed;
    std::optional<exit_status> status;
    // Reactor thread only.
    std::unique_ptr<swarm::session> session;
    io::timer_id watch{};
    bool stopping = false;
};

namespace {

// How often each peer's reactor checks whether its torrent completed. The peers' times come
// from their own counters; this only delays the driver's "all complete" by up to one period.
// (20 ms was 50,000 timer callbacks a second for 1000 peers, ~2% of the run's CPU in perf.)
constexpr auto completion_poll = 100ms;
// How long the driver waits for a peer's reactor to carry out a kill.
constexpr auto kill_wait = 5s;
// A stop that never even begins (its reactor stuck) is given up after this.
constexpr auto max_stop_wait = 180s;
// Least time a peer gets from the start of its own stop: the stopped announce alone may wait
// 2 s (tracker_options::stopped_timeout), and its answer is handled on a reactor that is tearing
// down hundreds of other peers at the same moment: all 1000 peers on one reactor took 37 s to
// stop (measured), so 2 s and then 15 s dropped the first peers the driver waited for.
constexpr std::chrono::milliseconds min_stop_grace = 120s;

// Ends the peer: the session is already gone (or never existed).
void finish(inprocess_peer& p, exit_status how) {
    {
        const std::lock_guard lock(p.mutex);
        if (!p.status) p.status = how;
    }
    p.ended.store(true, std::memory_order_release);
    p.changed.notify_all();
}

// Destroys the session on its thread, as a crash would (connections aborted, no announce).
void drop(inprocess_peer& p, exit_status how) {
    p.reactor.cancel_timer(p.watch);
    p.session.reset();
    finish(p, how);
}

void write_stats(const std::filesystem::path& path, const swarm::torrent& t) {
    if (path.empty()) return;
    const auto tmp = path.string() + ".part";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << swarm::to_json(t.stats()) << '\n';
        if (!out) return;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
}

void watch_completion(const std::shared_ptr<inprocess_peer>& p) {
    if (!p->session || p->stopping) return;
    if (p->session->get().complete()) {
        p->completed.store(true, std::memory_order_release);
        return;
    }
    p->watch = p->reactor.add_timer(completion_poll, [p] { watch_completion(p); });
}

swarm::session_options session_options_for(const peer_plan& plan,
                                           std::shared_ptr<io::worker_pool> hashing,
                                           std::shared_ptr<swarm::connection_budget> budget) {
    swarm::session_options o;
    o.torrent.hashing = std::move(hashing);  // one pool for every in-process peer
    // One budget for every peer: their connections share this process's descriptors.
    o.torrent.connections = std::move(budget);
    o.listen_host = "127.0.0.1";
    o.port = plan.port;
    o.tracker.numwant = plan.numwant;
    o.torrent.max_peers = plan.max_peers;
    if (plan.origin) o.torrent.seeding = swarm::seed_policy::origin;
    if (plan.upload_limit > 0) {
        auto limits = std::make_shared<swarm::transfer_limits>();
        limits->upload[0] = std::make_shared<swarm::rate_limiter>(plan.upload_limit);
        o.torrent.limits = std::move(limits);
    }
    if (plan.rechoke_seconds) {
        o.torrent.rechoke_interval = std::chrono::milliseconds(
            static_cast<std::int64_t>(*plan.rechoke_seconds * 1000.0));
        o.torrent.tick_interval = std::min(o.torrent.tick_interval, o.torrent.rechoke_interval);
    }
    // Sparse files: N full copies are reserved only as they are written.
    o.store.allocation = storage::allocation_mode::sparse;
    // Throwaway copies, checked byte for byte by the driver: no resume file, no XXH3, no
    // fdatasync (each forced 16 MiB of write-back per peer in a 1000-peer run).
    o.store.durable = false;
    return o;
}

// Runs on the peer's reactor thread: opens the session and starts it.
void open_peer(const std::shared_ptr<inprocess_peer>& p, const metainfo& info,
               const peer_plan& plan, swarm::session_options options) {
    auto s = swarm::session::open(p->reactor, info, plan.folder, std::move(options));
    if (!s) {
        spdlog::error("cannot start: {}", s.error().message());
        finish(*p, exit_status{1, 0});
        return;
    }
    p->session = std::move(*s);
    std::weak_ptr<inprocess_peer> weak = p;
    p->session->get().set_on_error([weak](const error& e) {
        spdlog::error("{}", e.message());
        // The torrent is mid-call: end the session after it returns.
        if (auto q = weak.lock()) q->reactor.post([q] { drop(*q, exit_status{1, 0}); });
    });
    spdlog::info("listening on port {}", p->session->port());
    p->session->start();
    watch_completion(p);
}

class inprocess_host final : public peer_host {
public:
    inprocess_host(std::shared_ptr<peer_runtime> runtime, std::shared_ptr<const metainfo> info)
        : runtime_(std::move(runtime)), info_(std::move(info)) {}
    inprocess_host(const inprocess_host&) = delete;
    inprocess_host& operator=(const inprocess_host&) = delete;
    inprocess_host(inprocess_host&&) = delete;
    inprocess_host& operator=(inprocess_host&&) = delete;
    ~inprocess_host() override {
        if (peer_ && !poll()) kill_now();
    }

    result<void> start(const peer_plan& plan) override {
        plan_ = plan;
        peer_ = std::make_shared<inprocess_peer>(runtime_->reactor_for(plan.index));
        runtime_->enroll(plan.index, peer_);
        peer_->reactor.post([p = peer_, info = info_, plan,
                             o = session_options_for(plan, runtime_->hashing(),
                                                     runtime_->connections())]() mutable {
            open_peer(p, *info, plan, std::move(o));
        });
        return {};
    }
    bool poll() override { return peer_ && peer_->ended.load(std::memory_order_acquire); }
    [[nodiscard]] std::optional<exit_status> status() const override {
        if (!peer_) return std::nullopt;
        const std::lock_guard lock(peer_->mutex);
        return peer_->status;
    }
    [[nodiscard]] bool completed() const override {
        return peer_ && peer_->completed.load(std::memory_order_acquire);
    }
    void kill_now() override {
        if (!peer_ || poll()) return;
        peer_->reactor.post([p = peer_] { drop(*p, exit_status{-1, SIGKILL}); });
        wait_for_end(kill_wait);
    }
    void request_stop() override {
        if (!peer_ || poll()) return;
        peer_->reactor.post([p = peer_, stats = plan_.stats_json] {
            if (!p->session || p->stopping) return;
            p->stopping = true;
            p->stop_began.store(std::chrono::steady_clock::now().time_since_epoch().count());
            p->reactor.cancel_timer(p->watch);
            // The stopped announce goes out (bounded by the tracker client), then the session
            // writes its counters and ends on its own thread.
            p->session->stop([p, stats] {
                if (p->session) write_stats(stats, p->session->get());
                p->reactor.post([p] { drop(*p, exit_status{0, 0}); });
            });
        });
    }
    // One reactor thread stops hundreds of peers (stopped announce, counters, teardown), so a
    // peer gets `grace` from the moment its own stop began there, as a process would from its
    // SIGTERM; then it is dropped as on a kill.
    void stop(std::chrono::milliseconds grace) override {
        if (!peer_ || poll()) return;
        request_stop();
        using steady = std::chrono::steady_clock;
        const auto cap = steady::now() + max_stop_wait;
        while (!wait_for_end(50ms)) {
            const auto now = steady::now();
            const steady::time_point began{steady::duration(peer_->stop_began.load())};
            const bool overdue = began != steady::time_point{} &&
                                 now - began > std::max(grace, min_stop_grace);
            if (overdue || now >= cap) {
                kill_now();
                return;
            }
        }
    }

private:
    bool wait_for_end(std::chrono::milliseconds limit) {
        std::unique_lock lock(peer_->mutex);
        return peer_->changed.wait_for(
            lock, limit, [this] { return peer_->ended.load(std::memory_order_acquire); });
    }

    std::shared_ptr<peer_runtime> runtime_;
    std::shared_ptr<const metainfo> info_;
    std::shared_ptr<inprocess_peer> peer_;
    peer_plan plan_;
};

}  // namespace

result<std::shared_ptr<peer_runtime>> peer_runtime::start(unsigned threads, const std::string& io,
                                                          std::uint32_t peers,
                                                          std::uint32_t connection_units) {
    auto kind = io::parse_backend_kind(io);
    if (!kind) return std::unexpected(kind.error());
    // A peer closing a socket its remote end already closed must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    std::shared_ptr<peer_runtime> rt(new peer_runtime());
    io::runner_options o;
    o.threads = threads != 0 ? threads : io::usable_cpus();
    o.backend = *kind;
    // Thousands of connections per reactor, but a provided receive buffer goes back to the ring
    // as soon as its completion is handled: 256 x 32 KiB (8 MiB per reactor) is enough; 1,024
    // cost 48 MiB more for two reactors (about 48 KB per peer at 1,000 peers) with no gain
    // measured (docs/BENCHMARKS.md, "1000 peers").
    o.reactor.recv_buffer_count = 256;
    o.reactor.ring_entries = 1024;
    if (connection_units > 0) {
        rt->connections_ = std::make_shared<swarm::connection_budget>(connection_units);
    }
    rt->inner_.assign(o.threads, nullptr);
    auto* slots = &rt->inner_;
    auto runner = io::runner::start(
        o, [slots](io::reactor& r, unsigned index) { (*slots)[index] = &r; });
    if (!runner) return std::unexpected(runner.error());
    rt->runner_ = std::move(*runner);
    rt->enrolled_.resize(peers);
    for (std::uint32_t k = 0; k < peers; ++k) {
        rt->peers_.push_back(std::make_unique<peer_reactor>(*rt->inner_[k % o.threads], k));
    }
    return rt;
}

peer_runtime::~peer_runtime() {
    shutdown();
}

void peer_runtime::enroll(std::uint32_t peer, std::shared_ptr<inprocess_peer> state) {
    const std::lock_guard lock(mutex_);
    if (peer < enrolled_.size()) enrolled_[peer] = std::move(state);
}

void peer_runtime::shutdown() {
    if (!runner_) return;
    std::vector<std::shared_ptr<inprocess_peer>> left;
    {
        const std::lock_guard lock(mutex_);
        for (auto& p : enrolled_) {
            if (p && !p->ended.load(std::memory_order_acquire)) left.push_back(p);
        }
    }
    for (auto& p : left) p->reactor.post([p] { drop(*p, exit_status{-1, SIGKILL}); });
    for (auto& p : left) {
        std::unique_lock lock(p->mutex);
        p->changed.wait_for(lock, kill_wait,
                            [&p] { return p->ended.load(std::memory_order_acquire); });
    }
    runner_->stop();
    runner_->join();
    runner_.reset();
    // A session its thread never got to end is left alone: its reactor is gone.
    for (auto& p : left) {
        if (p->session) static_cast<void>(p->session.release());
        finish(*p, exit_status{-1, SIGKILL});
    }
}

std::unique_ptr<peer_host> make_inprocess_host(std::shared_ptr<peer_runtime> runtime,
                                               std::shared_ptr<const metainfo> info) {
    return std::make_unique<inprocess_host>(std::move(runtime), std::move(info));
}

}  // namespace minibit::loadgen
