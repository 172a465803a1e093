#include "minibit/swarm/tracker_client.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/core/assert.hpp"

#include "http_fetcher.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "tracker_exchange.hpp"

namespace minibit::swarm {
namespace {

/// Appends the peers of a compact list (6 bytes IPv4 or 18 bytes IPv6 per peer).
void append_peers(std::span<const std::uint8_t> raw, std::size_t record,
                  std::vector<io::address>& out) {
    for (std::size_t at = 0; at + record <= raw.size(); at += record) {
        const std::uint8_t* p = raw.data() + at;
        if (record == 6) {
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            std::memcpy(&sin.sin_addr, p, 4);
            std::memcpy(&sin.sin_port, p + 4, 2);
            if (sin.sin_port != 0) {
                out.push_back(io::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin),
                                                         sizeof sin));
            }
        } else {
            sockaddr_in6 sin6{};
            sin6.sin6_family = AF_INET6;
            std::memcpy(&sin6.sin6_addr, p, 16);
            std::memcpy(&sin6.sin6_port, p + 16, 2);
            if (sin6.sin6_port != 0) {
                out.push_back(io::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6),
                                                         sizeof sin6));
            }
        }
    }
}

}  // namespace

std::string_view to_string(tracker_health health) {
    switch (health) {
    case tracker_health::ok: return "ok";
    case tracker_health::silent: return "silent";
    case tracker_health::failing: return "failing";
    case tracker_health::unknown: break;
    }
    return "unknown";
}

tracker_client::tracker_client(io::reactor& reactor, info_hash hash, wire::peer_id id,
                               std::uint16_t port, tracker_options options, progress_fn progress,
                               peers_fn on_peers)
    : reactor_(reactor),
      hash_(hash),
      id_(id),
      port_(port),
      options_(std::move(options)),
      progress_(std::move(progress)),
      on_peers_(std::move(on_peers)),
      scope_(reactor) {}

result<std::unique_ptr<tracker_client>> tracker_client::create(
    io::reactor& reactor, std::vector<std::vector<std::string>> tiers, info_hash hash,
    wire::peer_id id, std::uint16_t listen_port, tracker_options options, progress_fn progress,
    peers_fn on_peers) {
    std::unique_ptr<tracker_client> c(new tracker_client(reactor, hash, id, listen_port,
                                                         std::move(options), std::move(progress),
                                                         std::move(on_peers)));
    for (auto& tier : tiers) {
        std::vector<endpoint> eps;
        for (auto& text : tier) {
            auto url = parse_tracker_url(text);
            if (!url) {
                spdlog::warn("tracker {}: skipped: {}", text, url.error().message());
                continue;
            }
            eps.push_back({std::move(text), std::move(*url), tracker_health::unknown, ""});
        }
        if (!eps.empty()) {
            c->tiers_.push_back(std::move(eps));
        }
    }
    if (c->tiers_.empty()) {
        return fail(swarm_errc::bad_tracker_url,
                    "no usable tracker URL (http://, https:// or udp://)");
    }
    return c;
}

tracker_client::~tracker_client() {
    // The fetcher is shared with the other clients on this reactor: end our transfer only.
    if (http_) http_->cancel(http_request_);
    if (udp_) {
        reactor_.close_udp(*udp_);
    }
}

wire::announce_request tracker_client::make_request(wire::announce_event event) const {
    wire::announce_request r;
    r.hash = hash_;
    r.peer_id = id_.bytes;
    r.port = port_;
    const announce_progress p = progress_ ? progress_() : announce_progress{};
    r.uploaded = p.uploaded;
    r.downloaded = p.downloaded;
    r.left = p.left;
    r.event = event;
    r.numwant = options_.numwant;
    return r;
}

// ---- announce state machine --------------------------------------------------------------

void tracker_client::start() {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "tracker_client used off its reactor thread");
    announce(wire::announce_event::started);
}

void tracker_client::completed() {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "tracker_client used off its reactor thread");
    if (stopping_) {
        return;
    }
    if (busy_) {
        want_completed_ = true;
        return;
    }
    scope_.cancel_timer(timer_);
    announce(wire::announce_event::completed);
}

void tracker_client::stop(std::function<void()> done) {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "tracker_client used off its reactor thread");
    stopping_ = true;
    scope_.cancel_timer(timer_);
    if (udp_active_) {
        scope_.cancel_timer(udp_active_->timer);
        udp_active_.reset();
    }
    stop_done_ = std::move(done);
    ++generation_;
    auto finish = [this] {
        ++generation_;
        if (auto fn = std::move(stop_done_)) {
            stop_done_ = nullptr;
            fn();
        }
    };
    if (!last_good_) {
        finish();
        return;
    }
    timer_ = scope_.add_timer(options_.stopped_timeout, finish);
    event_ = wire::announce_event::stopped;
    tier_ = last_good_->first;
    index_ = last_good_->second;
    busy_ = true;
    send_current();
}

void tracker_client::announce(wire::announce_event event) {
    ++generation_;
    event_ = event;
    tier_ = 0;
    index_ = 0;
    busy_ = true;
    try_current();
}

void tracker_client::schedule(std::chrono::milliseconds delay, wire::announce_event event) {
    scope_.cancel_timer(timer_);
    timer_ = scope_.add_timer(delay, [this, event] {
        if (!stopping_) announce(event);
    });
}

void tracker_client::try_current() {
    if (tier_ >= tiers_.size()) {
        busy_ = false;
        ++backoff_steps_;
        const auto shift = std::min<std::uint32_t>(backoff_steps_ - 1, 16);
        const auto delay = std::min<std::chrono::milliseconds>(
            options_.retry_min * (std::int64_t{1} << shift), options_.retry_max);
        spdlog::info("tracker: every URL failed; retrying in {} ms", delay.count());
        schedule(delay, event_);
        return;
    }
    send_current();
}

void tracker_client::send_current() {
    const endpoint ep = tiers_[tier_][index_];
    const std::uint64_t generation = generation_;
    scope_.cancel_timer(slow_timer_);
    slow_timer_ = scope_.add_timer(options_.slow_notice, [this, generation] {
        if (generation != generation_ || stopping_) return;
        endpoint& cur = tiers_[tier_][index_];
        // A URL already known to fail stays "failing" while it is retried: no flood.
        if (cur.health == tracker_health::failing || cur.health == tracker_health::silent) return;
        report(cur, tracker_health::silent,
               fmt::format("no answer within {} s, still trying",
                           std::chrono::duration<double>(options_.slow_notice).count()));
    });
    if (ep.url.scheme != tracker_scheme::udp) {
        http_announce(ep, event_, generation);
    } else {
        udp_announce(ep, event_, generation);
    }
}

void tracker_client::report(endpoint& ep, tracker_health health, std::string reason,
                            std::size_t peers) {
    if (ep.health == health && ep.reason == reason) {
        return;
    }
    tracker_status st{ep.text, health, ep.health, std::move(reason), peers};
    ep.health = health;
    ep.reason = st.reason;
    // With a status callback its owner tells the user; the log keeps the record.
    const auto level = health == tracker_health::ok || options_.on_status ? spdlog::level::info
                                                                          : spdlog::level::warn;
    if (health == tracker_health::ok) {
        spdlog::log(level, "tracker {}: answered ({} peers)", st.url, peers);
    } else {
        spdlog::log(level, "tracker {}: {}", st.url, st.reason);
    }
    last_status_ = st;
    if (options_.on_status) {
        options_.on_status(st);
    }
}

void tracker_client::on_result(std::uint64_t generation, result<wire::announce_response> r) {
    if (generation != generation_) {
        return;
    }
    scope_.cancel_timer(slow_timer_);
    endpoint& ep = tiers_[tier_][index_];
    if (stopping_) {
        spdlog::debug("tracker {}: stopped announce {}", ep.text, r ? "answered" : "failed");
        ++generation_;
        if (auto fn = std::move(stop_done_)) {
            stop_done_ = nullptr;
            scope_.cancel_timer(timer_);
            fn();
        }
        return;
    }
    if (!r) {
        ++failures_;
        last_error_ = r.error().message();
        // The user reads the reason alone ("cannot connect: Connection refused").
        report(ep, tracker_health::failing,
               r.error().domain == "swarm" ? r.error().reason : last_error_);
        if (++index_ >= tiers_[tier_].size()) {
            ++tier_;
            index_ = 0;
        }
        try_current();
        return;
    }
    ++successes_;
    busy_ = false;
    backoff_steps_ = 0;
    last_success_ = reactor_.now();
    // BEP 12: the URL that answered moves to the front of its tier.
    auto& tier = tiers_[tier_];
    std::rotate(tier.begin(), tier.begin() + static_cast<std::ptrdiff_t>(index_),
                tier.begin() + static_cast<std::ptrdiff_t>(index_) + 1);
    last_good_ = std::pair<std::size_t, std::size_t>{tier_, 0};
    std::vector<io::address> peers;
    append_peers(r->peers4, 6, peers);
    append_peers(r->peers6, 18, peers);
    report(tier.front(), tracker_health::ok, "", peers.size());
    spdlog::debug("tracker {}: {} peers, interval {} s", tier.front().text, peers.size(),
                  r->interval);
    if (on_peers_ && !peers.empty()) {
        on_peers_(peers);
    }
    if (want_completed_) {
        want_completed_ = false;
        announce(wire::announce_event::completed);
        return;
    }
    const auto interval = std::chrono::seconds(std::max<std::uint32_t>(r->interval, 1));
    schedule(std::chrono::duration_cast<std::chrono::milliseconds>(interval),
             wire::announce_event::none);
}

}  // namespace minibit::swarm
