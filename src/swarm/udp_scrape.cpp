#include "udp_scrape.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "tracker_resolve.hpp"

namespace minibit::swarm {
namespace {

// BEP 15: a client may use a connection id for one minute after it got it.
constexpr auto connection_id_lifetime = std::chrono::seconds(60);
// BEP 15 allows n up to 8 in 15 * 2^n; the attempts bound it well before that.
constexpr std::uint32_t max_backoff_shift = 8;

}  // namespace

struct udp_scraper::exchange {
    io::address addr;
    std::string url;
    info_hash hash;
    done_fn done;
    std::optional<std::uint64_t> connection;  ///< set: the next packet is the scrape
    std::uint32_t attempt = 0;                ///< BEP 15's n; 0 again after a connect answer
    std::uint32_t unanswered = 0;             ///< packets of this exchange that went unanswered
    std::uint32_t transaction = 0;
    io::timer_id timer{};
    std::string refused;  ///< why the last packet from the tracker was refused, if one was
};

udp_scraper::udp_scraper(io::reactor& reactor, std::chrono::milliseconds timeout,
                         std::uint32_t attempts)
    : reactor_(reactor),
      timeout_(timeout),
      attempts_(std::max<std::uint32_t>(attempts, 1)),
      scope_(reactor) {}

udp_scraper::~udp_scraper() {
    if (udp4_) reactor_.close_udp(*udp4_);
    if (udp6_) reactor_.close_udp(*udp6_);
}

void udp_scraper::scrape(const tracker_url& url, const std::string& text, const info_hash& hash,
                         done_fn done) {
    auto ex = std::make_shared<exchange>();
    ex->url = text;
    ex->hash = hash;
    ex->done = std::move(done);
    if (auto numeric = numeric_address(url.host, url.port)) {
        // Answer later, never from inside the caller's call.
        scope_.post([this, ex, addr = *numeric] { begin(ex, addr); });
        return;
    }
    resolve_off_thread(url.host, url.port, scope_.share(),
                       [this, ex](result<io::address> addr) { begin(ex, std::move(addr)); });
}

void udp_scraper::begin(const std::shared_ptr<exchange>& ex, result<io::address> addr) {
    if (!addr) return finish(ex, std::unexpected(addr.error()));
    auto sock = socket_for(addr->family());
    if (!sock) return finish(ex, std::unexpected(sock.error()));
    ex->addr = *addr;
    ex->connection = connection_id(ex->addr);
    send(ex);
}

void udp_scraper::send(const std::shared_ptr<exchange>& ex) {
    unlist(ex);
    do {
        ex->transaction = random_u32();
    } while (waiting_.contains(ex->transaction));
    waiting_[ex->transaction] = ex;
    std::vector<std::uint8_t> packet;
    if (ex->connection) {
        wire::encode_udp(wire::udp_request{wire::udp_scrape_request{
                             *ex->connection, ex->transaction, {ex->hash}}},
                         packet);
    } else {
        wire::encode_udp(wire::udp_request{wire::udp_connect_request{ex->transaction}}, packet);
    }
    const auto sock = socket_for(ex->addr.family());
    if (sock) (void)reactor_.send_to(*sock, std::as_bytes(std::span(packet)), ex->addr);
    // BEP 15: wait 15 * 2^n seconds for the n-th try; here timeout_ * 2^n.
    const auto wait = timeout_ * (std::int64_t{1} << std::min(ex->attempt, max_backoff_shift));
    std::weak_ptr<exchange> weak = ex;
    ex->timer = scope_.add_timer(wait, [this, weak] {
        if (auto e = weak.lock()) on_timeout(e);
    });
}

void udp_scraper::on_timeout(const std::shared_ptr<exchange>& ex) {
    ++ex->attempt;
    if (++ex->unanswered >= attempts_) {
        std::string why = fmt::format("UDP tracker {} did not answer the scrape", ex->url);
        if (!ex->refused.empty()) why += fmt::format(" (refused a reply: {})", ex->refused);
        forget_connection(ex->addr);
        return finish(ex, fail(swarm_errc::tracker_failed, why));
    }
    if (ex->connection) {
        // A tracker drops packets with a connection id it did not issue (restarted, it forgot
        // ours) without an error, so an unanswered scrape connects again.
        forget_connection(ex->addr);
        ex->connection.reset();
    }
    send(ex);
}

void udp_scraper::on_datagram(std::span<const std::byte> bytes, const io::address& from) {
    auto parsed = wire::parse_udp_response(
        {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()},
        wire::udp_peer_family::ipv4);
    if (!parsed) return refuse(from, parsed.error().message());
    const std::uint32_t transaction = std::visit([](const auto& r) { return r.transaction_id; },
                                                 *parsed);
    const auto it = waiting_.find(transaction);
    if (it == waiting_.end() || !(it->second->addr == from)) {
        return refuse(from, fmt::format("transaction id {:#010x} is not one we sent", transaction));
    }
    const std::shared_ptr<exchange> ex = it->second;
    if (const auto* e = std::get_if<wire::udp_error_response>(&*parsed)) {
        forget_connection(ex->addr);
        return finish(
            ex, fail(swarm_errc::tracker_failed,
                     fmt::format("UDP tracker {} refused the scrape: {}", ex->url, e->message)));
    }
    const auto* c = std::get_if<wire::udp_connect_response>(&*parsed);
    const auto* s = std::get_if<wire::udp_scrape_response>(&*parsed);
    if (c != nullptr && !ex->connection) {
        scope_.cancel_timer(ex->timer);
        forget_connection(ex->addr);
        connections_.push_back({ex->addr, c->connection_id, reactor_.now()});
        ex->connection = c->connection_id;
        ex->attempt = 0;
        return send(ex);
    }
    if (s != nullptr && ex->connection) {
        if (s->entries.size() != 1) {
            return refuse(
                from, fmt::format("the scrape answer lists {} torrents, not 1", s->entries.size()));
        }
        const auto& n = s->entries.front();
        return finish(ex, scrape_counts{n.seeders, n.leechers, n.completed});
    }
    refuse(from, ex->connection ? "a scrape was answered with another action"
                                : "a connect was answered with another action");
}

void udp_scraper::refuse(const io::address& from, const std::string& why) {
    spdlog::debug("UDP scrape: packet from {} refused: {}", from.to_string(), why);
    for (const auto& [transaction, ex] : waiting_) {
        if (ex->addr == from) ex->refused = why;
    }
}

void udp_scraper::finish(const std::shared_ptr<exchange>& ex, result<scrape_counts> r) {
    scope_.cancel_timer(ex->timer);
    unlist(ex);
    auto done = std::move(ex->done);
    if (done) done(std::move(r));
}

void udp_scraper::unlist(const std::shared_ptr<exchange>& ex) {
    if (auto it = waiting_.find(ex->transaction); it != waiting_.end() && it->second == ex) {
        waiting_.erase(it);
    }
}

result<io::udp_id> udp_scraper::socket_for(int family) {
    auto& slot = family == AF_INET6 ? udp6_ : udp4_;
    if (slot) return *slot;
    const auto local = io::address::parse(family == AF_INET6 ? "[::]:0" : "0.0.0.0:0");
    auto bound = reactor_.bind_udp(
        *local, io::reuse_port::no,
        scope_.guard([this](std::span<const std::byte> b, const io::address& from) {
            on_datagram(b, from);
        }));
    if (!bound) return std::unexpected(bound.error());
    slot = *bound;
    return *bound;
}

std::optional<std::uint64_t> udp_scraper::connection_id(const io::address& addr) const {
    for (const auto& c : connections_) {
        if (c.addr == addr && reactor_.now() - c.obtained < connection_id_lifetime) return c.id;
    }
    return std::nullopt;
}

void udp_scraper::forget_connection(const io::address& addr) {
    std::erase_if(connections_, [&](const connection& c) { return c.addr == addr; });
}

}  // namespace minibit::swarm
