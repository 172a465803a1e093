#include "minibit/swarm/session.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/core/assert.hpp"

namespace minibit::swarm {
namespace {

/// Addresses remembered for redialling; the oldest tracker-given one goes first (the --peer
/// ones stay). Bounds memory under a tracker that keeps handing out new addresses.
constexpr std::size_t max_known_peers = 1000;

}  // namespace

result<void> session::bind(io::reactor& reactor, io::reuse_port reuse) {
    auto addr = io::address::parse(options_.listen_host.find(':') != std::string::npos
                                       ? fmt::format("[{}]:{}", options_.listen_host, options_.port)
                                       : fmt::format("{}:{}", options_.listen_host, options_.port));
    if (!addr) {
        return fail(swarm_errc::listen_failed, "bad listen address: " + addr.error().message());
    }
    io::listen_options lo;
    lo.reuse = reuse;
    auto listener = reactor.listen(*addr, lo, [this](io::connection conn, const io::address& peer) {
        torrent_->adopt(conn, peer);
    });
    if (!listener) {
        return fail(
            swarm_errc::listen_failed,
            fmt::format("cannot listen on {}: {}", addr->to_string(), listener.error().message()));
    }
    listener_ = *listener;
    listening_ = true;
    auto bound = reactor.local_address(*listener);
    port_ = bound ? bound->port() : options_.port;
    options_.torrent.listen_port = port_;
    return {};
}

void session::make_tracker(std::vector<std::vector<std::string>> tiers) {
    if (options_.trackers != use_trackers::yes || tiers.empty()) {
        return;
    }
    torrent* tor = torrent_.get();
    shard_set* set = shards_.get();
    auto client = tracker_client::create(
        reactor_, std::move(tiers), tor->info().hash, tor->local_id(), port_, options_.tracker,
        [tor, set] {
            const auto st = set != nullptr ? set->total() : tor->stats();
            return announce_progress{st.payload_bytes_up, st.payload_bytes_down, tor->bytes_left()};
        },
        [this](const std::vector<io::address>& peers) { learn(peers); });
    if (client) {
        tracker_ = std::move(*client);
    } else {
        spdlog::warn("no tracker: {}", client.error().message());
    }
}

result<std::unique_ptr<session>> session::open(io::reactor& reactor, metainfo info,
                                               const std::filesystem::path& folder,
                                               session_options options) {
    std::unique_ptr<session> s(new session(reactor));
    s->options_ = std::move(options);
    if (s->options_.listen == listen_mode::shared) {
        s->port_ = s->options_.port;
        s->options_.torrent.listen_port = s->port_;
    } else if (auto bound = s->bind(reactor, io::reuse_port::no); !bound) {
        return std::unexpected(bound.error());
    }
    auto tiers = info.tracker_tiers();
    auto t = torrent::open(reactor, std::move(info), folder, s->options_.torrent,
                           s->options_.store);
    if (!t) {
        return std::unexpected(t.error());
    }
    s->torrent_ = std::move(*t);
    s->known_ = s->options_.peers;
    s->make_tracker(std::move(tiers));
    return s;
}

result<std::unique_ptr<session>> session::open_shard(io::reactor& reactor, metainfo info,
                                                     std::shared_ptr<storage::piece_store> store,
                                                     std::shared_ptr<shard_set> set,
                                                     std::uint32_t shard, session_options options) {
    std::unique_ptr<session> s(new session(reactor));
    s->options_ = std::move(options);
    s->shards_ = set;
    s->shard_ = shard;
    if (auto bound = s->bind(reactor, io::reuse_port::yes); !bound) {
        return std::unexpected(bound.error());
    }
    auto tiers = info.tracker_tiers();
    auto t = torrent::open_shard(reactor, std::move(info), std::move(store), std::move(set), shard,
                                 s->options_.torrent);
    if (!t) {
        return std::unexpected(t.error());
    }
    s->torrent_ = std::move(*t);
    if (shard == 0) {  // the first shard announces and dials for all of them
        s->known_ = s->options_.peers;
        s->make_tracker(std::move(tiers));
    }
    return s;
}

void session::dial(const io::address& peer) {
    if (!shards_) {
        torrent_->connect(peer);
        return;
    }
    // The same address always goes to the same shard, so its reconnect pacing holds.
    const auto k = static_cast<std::uint32_t>(std::hash<std::string>{}(peer.to_string()) %
                                              shards_->members.size());
    if (k == shard_) {
        torrent_->connect(peer);
    } else {
        shards_->post(k, [peer](torrent& t) { t.connect(peer); });
    }
}

session::~session() {
    tracker_.reset();
    torrent_.reset();
    if (listening_) {
        reactor_.close_listener(listener_);
    }
}

void session::adopt(io::connection conn, const io::address& peer,
                    std::span<const std::byte> already_received) {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "session used off its reactor thread");
    torrent_->adopt(conn, peer, already_received);
}

void session::start() {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "session used off its reactor thread");
    if (running_) {
        return;
    }
    running_ = true;
    tracker_client* tc = tracker_.get();
    const bool seeding_from_start = torrent_->complete();
    torrent_->set_on_complete([tc, seeding_from_start] {
        if (tc != nullptr && !seeding_from_start) tc->completed();
    });
    torrent_->start();
    if (tracker_) {
        tracker_->start();
    }
    redial();
}

void session::learn(const std::vector<io::address>& peers) {
    for (const auto& p : peers) {
        if (p.port() == port_ &&
            (p.to_string().starts_with("127.") || p.to_string() == "0.0.0.0")) {
            continue;  // ourselves, as the tracker sees us on loopback
        }
        if (std::find(known_.begin(), known_.end(), p) == known_.end()) {
            if (known_.size() >= max_known_peers + options_.peers.size()) {
                known_.erase(known_.begin() + static_cast<std::ptrdiff_t>(options_.peers.size()));
            }
            known_.push_back(p);
        }
        dial(p);
    }
    if (running_ && !redial_armed_ && !known_.empty()) arm_redial();
}

void session::arm_redial() {
    redial_armed_ = true;
    redial_timer_ = scope_.add_timer(options_.redial_interval, [this] {
        redial_armed_ = false;
        redial();
    });
}

void session::redial() {
    if (!running_) {
        return;
    }
    for (const auto& p : known_) {
        dial(p);
    }
    // With no peer to dial (none given, none named by the tracker yet) the timer sleeps until
    // learn() hears of one: an idle seeding torrent costs no wake-ups.
    if (!known_.empty()) arm_redial();
}

void session::stop(std::function<void()> done) {
    MINIBIT_ASSERT(scope_.on_owner_thread(), "session used off its reactor thread");
    running_ = false;
    redial_armed_ = false;
    scope_.cancel_timer(redial_timer_);
    if (listening_) {
        reactor_.close_listener(listener_);
        listening_ = false;
    }
    torrent_->stop();
    if (tracker_) {
        tracker_->stop(std::move(done));
    } else if (done) {
        reactor_.post(std::move(done));
    }
}

}  // namespace minibit::swarm
