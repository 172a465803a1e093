#include "redis_store.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <random>

namespace minibit::tracker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

/// Feed entries read per XREAD, and XREADs per refresh tick at most.
constexpr std::size_t feed_page = 256;
constexpr int feed_rounds_per_tick = 8;
/// Registry entries per ZSCAN page of a resynchronisation.
constexpr std::size_t pull_page_swarms = 256;
/// Above this many commands waiting for replies a flush waits (the journal keeps growing up to
/// its cap, past which the next resynchronisation covers what it dropped).
constexpr std::size_t max_pending_commands = 100000;
/// Expired swarms leave the registry this often.
constexpr milliseconds registry_trim_period{10000};

std::string_view view_of(const redisReply* r) {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string_view(r->str, r->len)
               : std::string_view();
}

std::optional<std::uint64_t> score_of(std::string_view text) {
    double d = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc() || end != text.data() + text.size() || d < 0 || d > 9.0e15)
        return std::nullopt;
    return static_cast<std::uint64_t>(d);
}

std::string random_instance() {
    std::random_device rd;
    std::string id(8, '\0');
    for (auto& c : id) c = static_cast<char>(rd() & 0xffU);
    return id;
}

}  // namespace

/// Progress of resynchronisations and of the feed, and the timers that drive them.
struct redis_store::sync_state {
    std::string feed_cursor = "$";
    io::reactor::clock::time_point feed_ok{};  ///< the last complete feed read
    bool reading = false;
    bool pushing = false;
    bool pulling = false;
    bool pull_again = false;    ///< another instance asked for a pull during ours
    bool connect_sync = false;  ///< this pull follows a (re)connect: report it at info
    bool stopped = false;
    bool outage_logged = false;
    io::reactor::clock::time_point sync_started{};
    std::uint64_t pushed = 0;
    std::uint64_t pulled = 0;
    std::uint64_t batch_number = 0;
    milliseconds backoff{0};
    std::vector<journal_entry> entries;
    std::optional<rewrite_filter> repeats;  ///< re-announces not worth a write
    std::optional<io::timer_id> flush_timer, refresh_timer, trim_timer, reconnect_timer, step_timer;
};

redis_store::redis_store(io::reactor& r, tracker_service& service, store_journal& journal,
                         const store_config& config, seconds peer_timeout)
    : r_(r),
      service_(service),
      journal_(journal),
      config_(config),
      peer_timeout_(peer_timeout),
      keys_{config.key_prefix},
      instance_(random_instance()),
      counters_(service.stats().store()),
      sync_(std::make_unique<sync_state>()) {
    sync_->backoff = config_.backoff_min;
    sync_->repeats.emplace(std::min<seconds>(config_.rewrite_window, peer_timeout_ / 8));
    link_ = std::make_unique<redis_link>(
        r_, config_.address, config_.connect_timeout, config_.command_timeout,
        redis_link::handlers{[this] { on_up(); },
                             [this](const std::string& why) { on_down(why); }});
}

redis_store::~redis_store() = default;

void redis_store::start() {
    set_state(store_state::connecting);
    link_->connect();
    every(config_.flush_interval, sync_->flush_timer, &redis_store::flush);
    every(config_.refresh_interval, sync_->refresh_timer, &redis_store::refresh);
    every(registry_trim_period, sync_->trim_timer, &redis_store::trim_registry);
}

void redis_store::every(milliseconds period, std::optional<io::timer_id>& slot,
                        void (redis_store::*fn)()) {
    slot = r_.add_timer(period, [this, period, &slot, fn] {
        slot.reset();
        (this->*fn)();
        if (!sync_->stopped) every(period, slot, fn);
    });
}

void redis_store::shutdown() {
    if (sync_->stopped) return;
    flush();  // the last announces go out; Redis reads them before it sees the close
    link_->kick();
    sync_->stopped = true;
    for (auto* t : {&sync_->flush_timer, &sync_->refresh_timer, &sync_->trim_timer,
                    &sync_->reconnect_timer, &sync_->step_timer}) {
        if (*t) r_.cancel_timer(**t);
        t->reset();
    }
    link_.reset();  // on this thread: the link cancels its own timers and unwatches its socket
}

void redis_store::abandon() {
    sync_->stopped = true;
    if (link_) link_->abandon();
    link_.reset();
}

std::uint64_t redis_store::wall_ms() const {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

seconds redis_store::table_now() const {
    return std::chrono::duration_cast<seconds>(r_.now().time_since_epoch());
}

void redis_store::set_state(store_state s) {
    counters_.state.store(s, std::memory_order_relaxed);
}

void redis_store::on_up() {
    sync_->backoff = config_.backoff_min;
    // Up means synchronised (finish_pull logs it): a Redis that accepts connections but never
    // answers (stopped, overloaded) stays one outage, however many reconnects it takes.
    spdlog::debug("store: connected to {}; synchronising", config_.address.to_string());
    set_state(store_state::syncing);
    sync_->connect_sync = true;
    resync();
}

void redis_store::on_down(const std::string& why) {
    journal_.set_enabled(false);
    sync_->entries.clear();
    for (std::uint32_t i = 0; i < service_.shard_count(); ++i) {
        service_.with_shard(shard_id{i},
                            [&](swarm_shard&) { journal_.take(shard_id{i}, sync_->entries); });
    }
    sync_->entries.clear();  // the resynchronisation after the reconnect pushes everything
    sync_->repeats->clear();
    sync_->reading = sync_->pushing = sync_->pulling = sync_->pull_again = false;
    if (sync_->step_timer) r_.cancel_timer(*sync_->step_timer);
    sync_->step_timer.reset();
    if (!sync_->outage_logged) {
        // Once per outage, however many reconnects fail.
        spdlog::warn("store: {} unreachable ({}); answering from the local table, reconnecting",
                     config_.address.to_string(), why);
        counters_.outages.fetch_add(1, std::memory_order_relaxed);
        sync_->outage_logged = true;
    }
    set_state(store_state::down);
    if (sync_->stopped) return;
    sync_->reconnect_timer = r_.add_timer(sync_->backoff, [this] {
        sync_->reconnect_timer.reset();
        link_->connect();
    });
    sync_->backoff = std::min(sync_->backoff * 2, config_.backoff_max);
}

void redis_store::flush() {
    if (link_ == nullptr || link_->state() != link_state::up) return;
    if (link_->pending() > max_pending_commands) return;
    auto& entries = sync_->entries;
    entries.clear();
    for (std::uint32_t i = 0; i < service_.shard_count(); ++i) {
        service_.with_shard(shard_id{i},
                            [&](swarm_shard&) { journal_.take(shard_id{i}, entries); });
    }
    if (journal_.take_overflow()) resync();  // some announces were dropped: push them all
    const std::size_t taken = entries.size();
    sync_->repeats->filter(entries, std::chrono::steady_clock::now());
    counters_.repeats.fetch_add(taken - entries.size(), std::memory_order_relaxed);
    if (entries.empty()) return;
    const std::uint64_t now = wall_ms();
    batch_params p;
    p.keys = &keys_;
    p.instance = instance_;
    p.now_ms = now;
    p.ttl_ms = static_cast<std::uint64_t>(peer_timeout_.count()) * 1000;
    p.feed_cutoff_ms = now - static_cast<std::uint64_t>(config_.feed_window.count()) * 1000;
    p.batch_number = sync_->batch_number++;
    const std::size_t n = entries.size();
    encode_batch(entries, p, [this](std::string_view cmd) { link_->send(cmd); });
    link_->kick();
    counters_.batches.fetch_add(1, std::memory_order_relaxed);
    counters_.written.fetch_add(n, std::memory_order_relaxed);
    counters_.last_batch.store(n, std::memory_order_relaxed);
    if (n > counters_.max_batch.load(std::memory_order_relaxed)) {
        counters_.max_batch.store(n, std::memory_order_relaxed);
    }
    counters_.errors.store(link_->error_replies(), std::memory_order_relaxed);
}

void redis_store::trim_registry() {
    if (link_ == nullptr || link_->state() != link_state::up) return;
    resp_command cmd;
    cmd.begin(4)
        .arg("ZREMRANGEBYSCORE")
        .arg(keys_.registry())
        .arg("-inf")
        .arg("(" + std::to_string(wall_ms()));
    link_->send(cmd.view());
}

void redis_store::resync() {
    if (sync_->pushing || sync_->pulling) {
        sync_->pull_again = true;
        return;
    }
    counters_.resyncs.fetch_add(1, std::memory_order_relaxed);
    journal_.set_enabled(true);
    (void)journal_.take_overflow();
    sync_->sync_started = r_.now();
    sync_->pushed = sync_->pulled = 0;
    sync_->pushing = true;
    // The feed position first: what others write from now on is read after the pull.
    resp_command cmd;
    cmd.begin(6).arg("XREVRANGE").arg(keys_.feed()).arg("+").arg("-").arg("COUNT").arg("1");
    link_->send(cmd.view(), [this](const redisReply* r) {
        if (r == nullptr) return;
        sync_->feed_cursor = "0-0";
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1) {
            sync_->feed_cursor = std::string(view_of(r->element[0]->element[0]));
        }
    });
    push_shard(0);
}

void redis_store::push_shard(std::uint32_t index) {
    if (link_ == nullptr || link_->state() != link_state::up) return;
    if (index == service_.shard_count()) {
        // Tell the other instances to pull what this one just pushed.
        resp_command cmd;
        const std::uint64_t cutoff = wall_ms() -
                                     static_cast<std::uint64_t>(config_.feed_window.count()) * 1000;
        cmd.begin(10)
            .arg("XADD")
            .arg(keys_.feed())
            .arg("MINID")
            .arg("~")
            .arg(cutoff)
            .arg("*")
            .arg("i")
            .arg(instance_)
            .arg("r")
            .arg("1");
        link_->send(cmd.view());
        sync_->pushing = false;
        sync_->pulling = true;
        pull_page("0");
        return;
    }
    const std::uint64_t now = wall_ms();
    const seconds table = table_now();
    service_.with_shard(shard_id{index}, [&](swarm_shard& shard) {
        resp_command cmd;
        shard.for_each_swarm([&](const info_hash& hash, const swarm& s) {
            if (s.peer_count() == 0) return;
            const std::string key = keys_.swarm(hash);
            cmd.begin(3 + 2 * s.peer_count()).arg("ZADD").arg(key).arg("GT");
            std::uint64_t latest = 0;
            auto add = [&](const auto& list) {
                for (std::size_t i = 0; i < list.capacity(); ++i) {
                    const auto& rec = list.at(i);
                    if (rec.empty()) continue;
                    const auto age = swarm_shard::age_of(rec.stamp(), table);
                    const std::uint64_t expiry = now +
                                                 static_cast<std::uint64_t>(std::max<std::int64_t>(
                                                     0, (peer_timeout_ - age).count())) *
                                                     1000;
                    latest = std::max(latest, expiry);
                    cmd.arg(peer_score(expiry, rec.seeder())).arg(std::span(rec.endpoint));
                }
            };
            add(s.v4);
            add(s.v6);
            link_->send(cmd.view());
            cmd.begin(3).arg("PEXPIRE").arg(key).arg(
                static_cast<std::uint64_t>(peer_timeout_.count()) * 1000);
            link_->send(cmd.view());
            cmd.begin(5).arg("ZADD").arg(keys_.registry()).arg("GT").arg(latest).arg(hash.view());
            link_->send(cmd.view());
            sync_->pushed += s.peer_count();
        });
    });
    link_->kick();
    // One shard per loop turn: the reactor serves its clients between two.
    sync_->step_timer = r_.add_timer(milliseconds(0), [this, index] {
        sync_->step_timer.reset();
        push_shard(index + 1);
    });
}

void redis_store::pull_page(const std::string& cursor) {
    resp_command cmd;
    cmd.begin(5).arg("ZSCAN").arg(keys_.registry()).arg(cursor).arg("COUNT").arg(pull_page_swarms);
    link_->send(cmd.view(), [this](const redisReply* r) {
        if (r == nullptr || !sync_->pulling) return;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            counters_.errors.fetch_add(1, std::memory_order_relaxed);
            finish_pull();
            return;
        }
        const std::uint64_t now = wall_ms();
        const redisReply* items = r->element[1];
        for (std::size_t i = 0; i + 1 < items->elements; i += 2) {
            const std::string_view member = view_of(items->element[i]);
            const auto expiry = score_of(view_of(items->element[i + 1]));
            if (member.size() != 20 || !expiry || *expiry < now) continue;
            info_hash h;
            std::memcpy(h.bytes.data(), member.data(), 20);
            pull_swarm(h);
        }
        const std::string next(view_of(r->element[0]));
        if (next != "0" && !next.empty()) {
            pull_page(next);
            return;
        }
        // Replies come in order: this one's comes after every swarm's above.
        link_->send("*1\r\n$4\r\nPING\r\n", [this](const redisReply* pong) {
            if (pong != nullptr) finish_pull();
        });
    });
}

void redis_store::pull_swarm(const info_hash& hash) {
    resp_command cmd;
    cmd.begin(5)
        .arg("ZRANGEBYSCORE")
        .arg(keys_.swarm(hash))
        .arg(peer_score(wall_ms(), false))
        .arg("+inf")
        .arg("WITHSCORES");
    link_->send(cmd.view(), [this, hash](const redisReply* r) {
        if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return;
        const std::uint64_t now = wall_ms();
        const seconds table = table_now();
        std::uint64_t merged = 0;
        service_.with_shard(service_.shard_of(hash), [&](swarm_shard& s) {
            for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
                const auto peer = address_of(view_of(r->element[i]));
                const auto score = score_of(view_of(r->element[i + 1]));
                if (!peer || !score || *score / 2 < now) continue;
                const auto left = seconds(static_cast<std::int64_t>((*score / 2 - now) / 1000));
                peer_entry e{*peer, (*score & 1U) != 0, std::max(seconds(0), peer_timeout_ - left)};
                if (s.merge(hash, e, table)) ++merged;
            }
        });
        sync_->pulled += merged;
        counters_.pulled.fetch_add(merged, std::memory_order_relaxed);
    });
}

void redis_store::finish_pull() {
    sync_->pulling = false;
    sync_->feed_ok = r_.now();
    const auto took = std::chrono::duration_cast<milliseconds>(r_.now() - sync_->sync_started);
    if (sync_->connect_sync) {
        spdlog::info("store: synchronised with {}: pushed {} peers, pulled {} in {} ms",
                     config_.address.to_string(), sync_->pushed, sync_->pulled, took.count());
        sync_->outage_logged = false;
    } else {
        spdlog::debug("store: pulled {} peers in {} ms", sync_->pulled, took.count());
    }
    sync_->connect_sync = false;
    set_state(store_state::up);
    if (sync_->pull_again) {
        sync_->pull_again = false;
        sync_->pulling = true;
        sync_->sync_started = r_.now();
        sync_->pulled = 0;
        pull_page("0");
    }
}

void redis_store::refresh() {
    if (link_ == nullptr || link_->state() != link_state::up || sync_->reading || sync_->pushing)
        return;
    if (counters_.state.load(std::memory_order_relaxed) != store_state::up) return;
    if (r_.now() - sync_->feed_ok > config_.feed_window / 2) {
        // Away longer than the feed keeps entries: some may be gone, so take everything.
        spdlog::info("store: the change feed was not read for {} s; resynchronising",
                     std::chrono::duration_cast<seconds>(r_.now() - sync_->feed_ok).count());
        resync();
        return;
    }
    read_feed(0);
}

void redis_store::read_feed(int round) {
    resp_command cmd;
    cmd.begin(6)
        .arg("XREAD")
        .arg("COUNT")
        .arg(feed_page)
        .arg("STREAMS")
        .arg(keys_.feed())
        .arg(sync_->feed_cursor);
    sync_->reading = true;
    link_->send(cmd.view(), [this, round](const redisReply* r) { on_feed(r, round); });
}

void redis_store::on_feed(const redisReply* r, int round) {
    if (r == nullptr) return;
    sync_->reading = false;
    if (r->type == REDIS_REPLY_ERROR) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    sync_->feed_ok = r_.now();
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return;  // nil: nothing new
    const redisReply* stream = r->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) return;
    const redisReply* entries = stream->element[1];
    for (std::size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        sync_->feed_cursor = std::string(view_of(e->element[0]));
        const redisReply* fields = e->element[1];
        std::string_view instance;
        std::string_view blob;
        std::string_view resync_flag;
        for (std::size_t k = 0; fields->type == REDIS_REPLY_ARRAY && k + 1 < fields->elements;
             k += 2) {
            const auto name = view_of(fields->element[k]);
            const auto value = view_of(fields->element[k + 1]);
            if (name == "i") instance = value;
            if (name == "d") blob = value;
            if (name == "r") resync_flag = value;
        }
        apply_feed(instance, blob, resync_flag);
    }
    if (entries->elements == feed_page && round + 1 < feed_rounds_per_tick) {
        read_feed(round + 1);
    }
}

void redis_store::apply_feed(std::string_view instance, std::string_view blob,
                             std::string_view resync_flag) {
    if (instance == instance_) return;
    if (!resync_flag.empty()) {
        // Another instance came back: pull what it pushed.
        if (sync_->pulling || sync_->pushing) {
            sync_->pull_again = true;
        } else {
            sync_->pulling = true;
            sync_->sync_started = r_.now();
            sync_->pulled = 0;
            pull_page("0");
        }
    }
    if (blob.empty()) return;
    const auto entries = decode_feed(blob);
    if (!entries) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const seconds table = table_now();
    for (const journal_entry& e : *entries) {
        const auto peer = address_of(
            {reinterpret_cast<const char*>(e.endpoint.data()), e.endpoint_bytes});
        if (!peer) continue;
        service_.with_shard(service_.shard_of(e.hash), [&](swarm_shard& s) {
            if ((e.flags & journal_stopped) != 0) {
                s.forget(e.hash, *peer);
                return;
            }
            (void)s.merge(e.hash, peer_entry{*peer, (e.flags & journal_seeder) != 0, seconds(0)},
                          table);
            if ((e.flags & journal_completed) != 0) s.add_downloaded(e.hash, 1);
        });
    }
    counters_.merged.fetch_add(entries->size(), std::memory_order_relaxed);
}

}  // namespace minibit::tracker
