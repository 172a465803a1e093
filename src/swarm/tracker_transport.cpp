// tracker_client, transport half: the HTTP(S) announce through http_fetcher (libcurl), and the
// BEP 15 UDP connect/announce exchange with its 15 * 2^n s retries (host names resolved off the
// reactor thread).
#include <cstring>
#include <functional>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http_fetcher.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/tracker_client.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "tracker_exchange.hpp"
#include "tracker_resolve.hpp"

namespace minibit::swarm {
namespace {

constexpr auto udp_connection_id_lifetime = std::chrono::seconds(60);

}  // namespace

void tracker_client::http_announce(const endpoint& ep, wire::announce_event event,
                                   std::uint64_t generation) {
    if (!http_) {
        auto f = http_fetcher::shared(reactor_);
        if (!f) {
            on_result(generation, std::unexpected(f.error()));
            return;
        }
        http_ = std::move(*f);
    }
    // The answer of an announce superseded meanwhile (stop() while one is in flight) would be
    // ignored: end its transfer instead of letting it run on in the shared fetcher.
    http_->cancel(http_request_);
    std::string url = ep.text.substr(0, ep.text.find('#'));
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += wire::build_announce_query(make_request(event));
    http_get_options o;
    o.timeout = options_.http_timeout;
    o.max_body_bytes = options_.max_response_bytes;
    o.ca_file = options_.ca_file;
    http_request_ = http_->get(url, o, scope_.share(), [this, generation](result<http_answer> r) {
        if (!r) {
            on_result(generation, std::unexpected(r.error()));
        } else if (r->status != 200) {
            on_result(generation,
                      fail(swarm_errc::tracker_failed, fmt::format("HTTP status {}", r->status)));
        } else {
            on_result(generation,
                      wire::parse_announce_response(r->body, wire::http_response_limits{}));
        }
    });
}

void tracker_client::udp_announce(const endpoint& ep, wire::announce_event event,
                                  std::uint64_t generation) {
    if (auto numeric = numeric_address(ep.url.host, ep.url.port)) {
        udp_announce_to(*numeric, ep.text, event, generation);
        return;
    }
    resolve_off_thread(ep.url.host, ep.url.port, scope_.share(),
                       [this, url = ep.text, event, generation](result<io::address> addr) {
                           if (generation != generation_) return;  // superseded meanwhile
                           if (!addr) {
                               on_result(generation, std::unexpected(addr.error()));
                               return;
                           }
                           udp_announce_to(*addr, url, event, generation);
                       });
}

void tracker_client::udp_announce_to(const io::address& to, const std::string& url,
                                     wire::announce_event event, std::uint64_t generation) {
    if (!udp_ || udp_family_ != to.family()) {
        if (udp_) reactor_.close_udp(*udp_);
        udp_.reset();
        auto local = io::address::parse(to.family() == AF_INET6 ? "[::]:0" : "0.0.0.0:0");
        auto bound = reactor_.bind_udp(
            *local, io::reuse_port::no,
            scope_.guard([this](std::span<const std::byte> b, const io::address& from) {
                on_datagram(b, from);
            }));
        if (!bound) {
            on_result(generation, std::unexpected(bound.error()));
            return;
        }
        udp_ = *bound;
        udp_family_ = to.family();
    }
    auto ex = std::make_shared<udp_exchange>();
    ex->addr = to;
    ex->url = url;
    ex->event = event;
    ex->generation = generation;
    ex->announcing = conn_id_ && conn_id_->url == url &&
                     reactor_.now() - conn_id_->obtained < udp_connection_id_lifetime;
    udp_active_ = ex;
    udp_send(ex);
}

void tracker_client::udp_send(const std::shared_ptr<udp_exchange>& ex) {
    ex->transaction = random_u32();
    std::vector<std::uint8_t> packet;
    if (ex->announcing) {
        const wire::announce_request a = make_request(ex->event);
        wire::udp_announce_request u;
        u.connection_id = conn_id_->id;
        u.transaction_id = ex->transaction;
        u.hash = a.hash;
        u.peer_id = a.peer_id;
        u.downloaded = a.downloaded;
        u.left = a.left;
        u.uploaded = a.uploaded;
        u.event = a.event;
        u.key = random_u32();
        u.num_want = static_cast<std::int32_t>(options_.numwant);
        u.port = port_;
        wire::encode_udp(wire::udp_request{u}, packet);
    } else {
        wire::encode_udp(wire::udp_request{wire::udp_connect_request{ex->transaction}}, packet);
    }
    (void)reactor_.send_to(*udp_, std::as_bytes(std::span(packet)), ex->addr);
    // BEP 15: wait 15 * 2^n seconds (n = attempt), here with a configurable base and cap.
    const std::chrono::milliseconds wait = options_.udp_timeout *
                                           (std::int64_t{1}
                                            << std::min<std::uint32_t>(ex->attempt, 8));
    std::weak_ptr<udp_exchange> weak = ex;
    ex->timer = scope_.add_timer(wait, [this, weak] {
        auto e = weak.lock();
        if (!e || udp_active_ != e) return;
        ++e->attempt;
        if (++e->timeouts >= options_.udp_attempts) {
            udp_active_.reset();
            conn_id_.reset();
            on_result(e->generation,
                      fail(swarm_errc::tracker_failed, "UDP tracker did not answer"));
            return;
        }
        if (e->announcing) {
            // A tracker drops announces whose connection id it did not issue (ours, restarted,
            // sends no error), so an unanswered announce connects again instead of resending.
            e->announcing = false;
            conn_id_.reset();
        }
        udp_send(e);
    });
}

void tracker_client::on_datagram(std::span<const std::byte> bytes, const io::address& from) {
    const auto ex = udp_active_;
    if (!ex || !(from == ex->addr)) {
        return;
    }
    const auto family = from.family() == AF_INET6 ? wire::udp_peer_family::ipv6
                                                  : wire::udp_peer_family::ipv4;
    auto parsed = wire::parse_udp_response(
        {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, family);
    if (!parsed) {
        spdlog::debug("tracker {}: bad UDP packet: {}", ex->url, parsed.error().message());
        return;
    }
    if (const auto* c = std::get_if<wire::udp_connect_response>(&*parsed)) {
        if (c->transaction_id != ex->transaction || ex->announcing) return;
        scope_.cancel_timer(ex->timer);
        conn_id_ = connection_id_cache{c->connection_id, reactor_.now(), ex->url};
        ex->announcing = true;
        ex->attempt = 0;
        udp_send(ex);
    } else if (const auto* a = std::get_if<wire::udp_announce_response>(&*parsed)) {
        if (a->transaction_id != ex->transaction || !ex->announcing) return;
        scope_.cancel_timer(ex->timer);
        udp_active_.reset();
        wire::announce_response r;
        r.interval = a->interval;
        r.complete = a->seeders;
        r.incomplete = a->leechers;
        (family == wire::udp_peer_family::ipv6 ? r.peers6 : r.peers4) = a->peers;
        on_result(ex->generation, std::move(r));
    } else if (const auto* e = std::get_if<wire::udp_error_response>(&*parsed)) {
        if (e->transaction_id != ex->transaction) return;
        scope_.cancel_timer(ex->timer);
        udp_active_.reset();
        conn_id_.reset();
        on_result(ex->generation, fail(swarm_errc::tracker_failed, "tracker error: " + e->message));
    }
}

}  // namespace minibit::swarm
