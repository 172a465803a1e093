#include "minibit/tracker/server.hpp"

#include <future>
#include <memory>
#include <random>

#include <csignal>

#include <spdlog/spdlog.h>

#include "http_front.hpp"
#include "minibit/io/port_owner.hpp"
#include "minibit/io/runner.hpp"
#include "minibit/tracker/state_saver.hpp"
#include "redis_store.hpp"
#include "rollout_api.hpp"
#include "store_journal.hpp"
#include "udp_front.hpp"

namespace minibit::tracker {
namespace {

constexpr std::chrono::seconds tick_period{1};
/// The rollout view's expiry walks every record it holds; split over this many slices of the
/// tick (a 1/16 of its shards every 62.5 ms) so no single turn holds the reactor for long: with
/// 100,000 peers the whole walk took 5-10 ms once a second, the 1% latency tail.
constexpr std::uint32_t rollout_slices = 16;
constexpr std::chrono::milliseconds flush_grace{200};  // queued answers flush at stop
constexpr std::chrono::milliseconds flush_poll{2};

/// Before the reactors bind: port 0 becomes one port that no socket holds, and an address that
/// another process holds is refused (only this process's reactors may share a port).
result<io::address> claim(const io::address& addr, io::transport t) {
    auto picked = io::pick_free_port(addr, t);
    if (!picked) return picked;
    if (auto sole = io::check_sole_owner(*picked, t); !sole) return std::unexpected(sole.error());
    return picked;
}

/// A bind error, with EADDRINUSE told as the address another process holds.
error bind_error(const error& e, const io::address& addr, io::transport t) {
    return is(e, io::io_errc::address_in_use) ? io::address_in_use(addr, t) : e;
}

std::chrono::seconds steady_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace

/// One reactor thread's share: its reactor and its two front ends.
struct tracker_server::per_thread {
    io::reactor* reactor = nullptr;
    std::unique_ptr<http_front> http;
    std::unique_ptr<udp_front> udp;
    std::uint32_t slice = 0;  ///< which slice of the tick comes next (see rollout_slices)
};

result<std::unique_ptr<tracker_server>> tracker_server::start(
    const server_config& config, std::shared_ptr<const info_hash_filter> filter) {
    if (auto v = config.service.validate(); !v) return std::unexpected(std::move(v.error()));
    if (!config.http && !config.udp)
        return fail(tracker_errc::bad_config, "both HTTP and UDP are off");
    if (config.state_file && config.state_interval.count() <= 0) {
        return fail(tracker_errc::bad_config, "the state interval must be positive");
    }
    const auto& h = config.http_front;
    if (h.idle_timeout.count() <= 0 || h.request_timeout.count() <= 0 || h.max_connections == 0) {
        return fail(tracker_errc::bad_config, "HTTP timeouts and max connections must be positive");
    }
    std::unique_ptr<tracker_server> self(new tracker_server());
    self->config_ = config;
    std::random_device rd;
    const std::uint64_t seed = (std::uint64_t{rd()} << 32U) | rd();
    self->service_ = std::make_unique<tracker_service>(config.service, seed,
                                                       connection_id_issuer::random());
    if (filter) self->service_->set_filter(std::move(filter));
    self->service_->set_start(steady_seconds());
    self->load_state_file();
    if (auto st = self->prepare_store(); !st) return std::unexpected(std::move(st.error()));
    if (auto ro = self->prepare_rollout(); !ro) return std::unexpected(std::move(ro.error()));
    const unsigned n = config.threads != 0 ? config.threads : io::usable_cpus();
    for (unsigned i = 0; i < n; ++i) self->threads_.push_back(std::make_unique<per_thread>());
    io::runner_options opts;
    opts.threads = n;
    opts.backend = config.backend;
    opts.reactor.batch_wait = config.batch_wait;
    opts.reactor.udp_hold = config.udp_hold;
    opts.reactor.udp_batch_sends = true;        // answers of one read batch leave by one sendmmsg
    opts.reactor.udp_buffer_bytes = 4U << 20U;  // bursts of many clients' announces queue
    tracker_server* raw = self.get();
    http_front_config per_front = config.http_front;
    per_front.max_connections = (config.http_front.max_connections + n - 1) / n;
    auto runner = io::runner::start(opts, [raw, per_front](io::reactor& r, unsigned index) {
        per_thread& t = *raw->threads_[index];
        t.reactor = &r;
        t.http = std::make_unique<http_front>(r, *raw->service_, per_front);
        t.http->set_api(raw->api_.get());
        t.udp = std::make_unique<udp_front>(r, *raw->service_);
        if (index == 0 && raw->journal_) {
            raw->store_ = std::make_unique<redis_store>(r, *raw->service_, *raw->journal_,
                                                        *raw->config_.store,
                                                        raw->config_.service.table.peer_timeout);
            raw->store_->start();
        }
        raw->schedule_tick(index);
    });
    if (!runner) return std::unexpected(std::move(runner.error()));
    self->runner_ = std::move(*runner);
    self->backend_ = self->threads_[0]->reactor->kind();
    if (auto b = self->bind_all(); !b) {
        self->stop();
        self->join();
        return std::unexpected(std::move(b.error()));
    }
    if (self->saver_) self->saver_->start();
    return self;
}

void tracker_server::load_state_file() {
    if (!config_.state_file) return;
    const auto& path = *config_.state_file;
    const auto timeout = config_.service.table.peer_timeout;
    saver_ = std::make_unique<state_saver>(*service_, path, config_.state_interval, timeout);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        spdlog::info("state: no {} yet; starting empty", path.string());
        return;
    }
    const auto t = std::chrono::steady_clock::now();
    auto r = load_state(*service_, path, timeout);
    if (!r) {
        // A bad file must not keep the tracker down: it starts empty and overwrites it later.
        spdlog::warn("state: ignoring {}: {}; starting empty", path.string(), r.error().message());
        return;
    }
    spdlog::info(
        "state: loaded {} peers of {} swarms from {} in {} ms ({} expired, {} refused)", r->loaded,
        r->header.swarms, path.string(),
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
            .count(),
        r->expired, r->refused);
}

result<void> tracker_server::prepare_store() {
    if (!config_.store) return {};
    if (auto v = config_.store->validate(); !v) return v;
    // Resolved here, once, on the starting thread: hiredis would block a reactor in
    // getaddrinfo on every connect.
    auto resolved = config_.store->address.resolve();
    if (!resolved) return std::unexpected(std::move(resolved.error()));
    config_.store->address = std::move(*resolved);
    // hiredis writes with write(2): a peer that closed must cost an EPIPE, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    journal_ = std::make_unique<store_journal>(service_->shard_count(),
                                               config_.store->max_journal_per_shard);
    service_->set_journal(journal_.get());
    return {};
}

result<void> tracker_server::prepare_rollout() {
    const auto& c = config_.rollout;
    if (!c.enabled) return {};
    rollout_config table = c.table;
    table.shards = config_.service.shards;
    if (auto v = table.validate(); !v) return v;
    rollout_ = std::make_unique<rollout_table>(table);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    for (const auto& [hash, count] : c.expect) {
        if (auto r = rollout_->set_expected(hash, count, now); !r) return r;
    }
    service_->set_rollout(rollout_.get());
    api_ = std::make_unique<rollout_api>(*service_, *rollout_,
                                         rollout_access{c.admin_token, c.protect_reads});
    return {};
}

result<void> tracker_server::save_state() {
    if (!saver_) return {};
    saver_->stop();
    auto r = saver_->save();
    if (!r) {
        spdlog::error("state: cannot save {}: {}", config_.state_file->string(),
                      r.error().message());
        return std::unexpected(std::move(r.error()));
    }
    spdlog::info(
        "state: saved {} peers of {} swarms to {} ({} bytes; encode {} us, longest "
        "shard lock {} us, write {} us)",
        r->peers, r->swarms, config_.state_file->string(), r->bytes, r->encode.count(),
        r->longest_hold.count(), r->write.count());
    return {};
}

result<void> tracker_server::bind_all() {
    // Thread 0 binds first so that a port 0 request is resolved once, then shared by all.
    // The addresses and the promise live in shared state, not on this stack: a reactor thread
    // that answers after the 10 s wait gave up must not write into a returned frame.
    struct binding {
        std::optional<io::address> http;
        std::optional<io::address> udp;
    };
    auto addrs = std::make_shared<binding>();
    if (config_.http) {
        auto a = claim(*config_.http, io::transport::tcp);
        if (!a) return std::unexpected(std::move(a.error()));
        addrs->http = *a;
    }
    if (config_.udp) {
        auto a = claim(*config_.udp, io::transport::udp);
        if (!a) return std::unexpected(std::move(a.error()));
        addrs->udp = *a;
    }
    for (unsigned i = 0; i < threads_.size(); ++i) {
        auto done = std::make_shared<std::promise<result<void>>>();
        auto fut = done->get_future();
        runner_->post(i, [this, i, addrs, done] {
            per_thread& t = *threads_[i];
            if (addrs->http) {
                auto a = t.http->listen(*addrs->http);
                if (!a) {
                    return done->set_value(
                        std::unexpected(bind_error(a.error(), *addrs->http, io::transport::tcp)));
                }
                addrs->http = *a;
            }
            if (addrs->udp) {
                auto a = t.udp->bind(*addrs->udp);
                if (!a) {
                    return done->set_value(
                        std::unexpected(bind_error(a.error(), *addrs->udp, io::transport::udp)));
                }
                addrs->udp = *a;
            }
            done->set_value({});
        });
        if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            return fail(tracker_errc::io, "reactor thread did not answer");
        }
        if (auto r = fut.get(); !r) return r;
    }
    // Again once every reactor is bound: a process that bound the port since the first check
    // (or at the same moment) is seen now, here or in its own check.
    if (addrs->http) {
        if (auto r = io::check_sole_owner(*addrs->http, io::transport::tcp); !r) return r;
    }
    if (addrs->udp) {
        if (auto r = io::check_sole_owner(*addrs->udp, io::transport::udp); !r) return r;
    }
    http_bound_ = addrs->http;
    udp_bound_ = addrs->udp;
    return {};
}

void tracker_server::schedule_tick(unsigned index) {
    per_thread& t = *threads_[index];
    t.reactor->add_timer(std::chrono::microseconds(tick_period) / rollout_slices, [this, index] {
        per_thread& self = *threads_[index];
        const std::uint32_t slice = self.slice;
        self.slice = (slice + 1) % rollout_slices;
        const auto threads = static_cast<std::uint32_t>(threads_.size());
        if (slice == 0) {
            const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                self.reactor->now().time_since_epoch());
            self.http->sweep();
            service_->expire(index, threads, now);
            if (index == 0) service_->stats().tick(self.reactor->now());
        }
        if (rollout_) {
            rollout_->expire(index + threads * slice, threads * rollout_slices,
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch()));
        }
        schedule_tick(index);
    });
}

unsigned tracker_server::thread_count() const {
    return runner_ ? runner_->size() : 0;
}

void tracker_server::post(unsigned index, io::task_fn task) {
    if (runner_) runner_->post(index, std::move(task));
}

void tracker_server::stop() {
    if (!runner_) return;
    // Stop accepting and close connections on each thread, then end the loops.
    for (unsigned i = 0; i < threads_.size(); ++i) {
        runner_->post(i, [this, i] {
            if (i == 0 && store_) store_->shutdown();  // writes its last batch, then closes
            threads_[i]->http->shutdown();
            threads_[i]->udp->shutdown();
            end_when_flushed(i, threads_[i]->reactor->now() + flush_grace);
        });
    }
}

// Queued answers get up to flush_grace to go out; the loop ends as soon as every connection of
// the thread has flushed and closed (a fixed 200 ms made each stop take 200 ms). A thread that
// talks to the shared store waits the whole grace for the store's last batch.
void tracker_server::end_when_flushed(unsigned index, io::reactor::clock::time_point until) {
    per_thread& t = *threads_[index];
    const bool flushed = t.http->connection_count() == 0 && !(index == 0 && store_);
    if (flushed || t.reactor->now() >= until) {
        t.reactor->stop();
        return;
    }
    t.reactor->add_timer(flush_poll, [this, index, until] { end_when_flushed(index, until); });
}

void tracker_server::join() {
    if (runner_) runner_->join();
    // A store whose shutdown never ran (the loop ended first) lets go without its reactor.
    if (store_) store_->abandon();
}

tracker_server::~tracker_server() {
    if (saver_) saver_->stop();
    if (runner_) {
        stop();
        runner_->stop();
        runner_->join();
        runner_.reset();
        if (store_) store_->abandon();
    }
}

}  // namespace minibit::tracker
