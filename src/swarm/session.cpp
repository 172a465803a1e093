#include "minibit/swarm/session.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace minibit::swarm {
namespace {

/// Addresses remembered for redialling; the oldest tracker-given one goes first (the --peer
/// ones stay). Bounds memory under a tracker that keeps handing out new addresses.
constexpr std::size_t max_known_peers = 1000;

}  // namespace

result<std::unique_ptr<session>> session::open(io::reactor& reactor, metainfo info,
                                               const std::filesystem::path& folder,
                                               session_options options) {
    std::unique_ptr<session> s(new session(reactor));
    auto addr = io::address::parse(options.listen_host.find(':') != std::string::npos
                                       ? fmt::format("[{}]:{}", options.listen_host, options.port)
                                       : fmt::format("{}:{}", options.listen_host, options.port));
    if (!addr) {
        return fail(swarm_errc::listen_failed, "bad listen address: " + addr.error().message());
    }
    session* self = s.get();
    auto listener = reactor.listen(*addr, io::listen_options{},
                                   [self](io::connection conn, const io::address& peer) {
                                       self->torrent_->adopt(conn, peer);
                                   });
    if (!listener) {
        return fail(swarm_errc::listen_failed,
                    fmt::format("cannot listen on {}: {}", addr->to_string(),
                                listener.error().message()));
    }
    s->listener_ = *listener;
    s->listening_ = true;
    auto bound = reactor.local_address(*listener);
    s->port_ = bound ? bound->port() : options.port;
    options.torrent.listen_port = s->port_;

    auto tiers = info.tracker_tiers();
    auto t = torrent::open(reactor, std::move(info), folder, options.torrent, options.store);
    if (!t) {
        return std::unexpected(t.error());
    }
    s->torrent_ = std::move(*t);
    s->known_ = options.peers;
    if (options.trackers == use_trackers::yes && !tiers.empty()) {
        torrent* tor = s->torrent_.get();
        auto client = tracker_client::create(
            reactor, std::move(tiers), tor->info().hash, tor->local_id(), s->port_,
            options.tracker,
            [tor] {
                const auto st = tor->stats();
                return announce_progress{st.payload_bytes_up, st.payload_bytes_down,
                                         tor->bytes_left()};
            },
            [self](const std::vector<io::address>& peers) { self->learn(peers); });
        if (client) {
            s->tracker_ = std::move(*client);
        } else {
            spdlog::warn("no tracker: {}", client.error().message());
        }
    }
    s->options_ = std::move(options);
    return s;
}

session::~session() {
    alive_.reset();
    reactor_.cancel_timer(redial_timer_);
    tracker_.reset();
    torrent_.reset();
    if (listening_) {
        reactor_.close_listener(listener_);
    }
}

void session::start() {
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
        if (p.port() == port_ && (p.to_string().starts_with("127.") || p.to_string() == "0.0.0.0")) {
            continue;  // ourselves, as the tracker sees us on loopback
        }
        if (std::find(known_.begin(), known_.end(), p) == known_.end()) {
            if (known_.size() >= max_known_peers + options_.peers.size()) {
                known_.erase(known_.begin() + static_cast<std::ptrdiff_t>(options_.peers.size()));
            }
            known_.push_back(p);
        }
        torrent_->connect(p);
    }
}

void session::redial() {
    if (!running_) {
        return;
    }
    for (const auto& p : known_) {
        torrent_->connect(p);
    }
    std::weak_ptr<int> alive = alive_;
    redial_timer_ = reactor_.add_timer(options_.redial_interval, [this, alive] {
        if (alive.lock()) redial();
    });
}

void session::stop(std::function<void()> done) {
    running_ = false;
    reactor_.cancel_timer(redial_timer_);
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
