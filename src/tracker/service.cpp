#include "minibit/tracker/service.hpp"

#include <cstring>

#include "minibit/tracker/rollout_table.hpp"
#include "store_journal.hpp"

namespace minibit::tracker {
namespace {

using std::chrono::seconds;

// BEP 15 answers must fit one datagram: opentracker caps them at 200 IPv4 / 66 IPv6 peers.
constexpr std::uint32_t udp_max_peers_v4 = 200;
constexpr std::uint32_t udp_max_peers_v6 = 66;
// The largest request BEP 15 needs: a scrape of 74 hashes (1496 bytes). An announce may carry
// BEP 41 options after its 98 bytes, within the same bound; anything larger is dropped unread.
constexpr std::size_t udp_max_request_bytes = wire::udp_scrape_header_bytes +
                                              20 * wire::udp_max_scrape_hashes;

// The peer's address as the table stores it; IPv4-mapped IPv6 becomes plain IPv4.
peer_address to_peer(const io::address& a, std::uint16_t port) {
    peer_address p;
    p.port = port;
    if (a.family() == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(a.data());
        std::memcpy(p.address.data(), &in->sin_addr, 4);
        p.address_bytes = 4;
    } else if (a.family() == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.data());
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            std::memcpy(p.address.data(), in6->sin6_addr.s6_addr + 12, 4);
            p.address_bytes = 4;
        } else {
            std::memcpy(p.address.data(), in6->sin6_addr.s6_addr, 16);
            p.address_bytes = 16;
        }
    }
    return p;
}

std::span<const std::uint8_t> ip_bytes(const peer_address& p) {
    return std::span(p.address).first(p.address_bytes);
}

// The rollout view times completions in milliseconds; `now` of the callers counts seconds.
std::chrono::milliseconds steady_millis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
}

void udp_error(std::uint32_t transaction, std::string message, std::vector<std::uint8_t>& reply) {
    wire::encode_udp(wire::udp_response{wire::udp_error_response{transaction, std::move(message)}},
                     reply);
}

}  // namespace

result<void> service_config::validate() const {
    if (auto r = table.validate(); !r) return r;
    if (min_interval.count() <= 0 || min_interval > interval || interval > table.peer_timeout) {
        return fail(tracker_errc::bad_config, "need 0 < min interval <= interval <= peer timeout");
    }
    if (shards == 0 || shards > 65536) return fail(tracker_errc::bad_config, "shards: 1..65536");
    return {};
}

tracker_service::tracker_service(const service_config& config, std::uint64_t seed,
                                 connection_id_issuer ids)
    : config_(config),
      ids_(ids),
      table_(config.table, config.shards, seed),
      locks_(std::make_unique<std::mutex[]>(table_.shard_count())),
      filter_(std::make_shared<const info_hash_filter>()),
      zones_(nullptr) {
    set_zones(std::make_shared<const zone_map>());
}

void tracker_service::set_zones(std::shared_ptr<const zone_map> zones) {
    const std::lock_guard lock(zones_lock_);
    zone_maps_.push_back(std::move(zones));
    zones_.store(zone_maps_.back().get(), std::memory_order_release);
}

void tracker_service::set_filter(std::shared_ptr<const info_hash_filter> filter) {
    filter_.store(std::move(filter));
}

bool tracker_service::allowed(const info_hash& hash) const {
    return filter_.load()->allows(hash);
}

table_totals tracker_service::totals() const {
    table_totals t;
    for (std::uint32_t i = 0; i < table_.shard_count(); ++i) {
        const std::lock_guard lock(locks_[i]);
        const swarm_shard& s = table_.shard(shard_id{i});
        t.torrents += s.torrent_count();
        t.peers += s.peer_count();
        t.seeders += s.seeder_count();
    }
    return t;
}

void tracker_service::expire(std::uint32_t part, std::uint32_t parts, seconds now) {
    for (std::uint32_t i = part; i < table_.shard_count(); i += std::max(parts, 1U)) {
        const std::lock_guard lock(locks_[i]);
        table_.shard(shard_id{i}).expire(now, config_.expire_swarms_per_tick);
    }
}

swarm_counts tracker_service::scrape_one(const info_hash& hash) const {
    if (!allowed(hash)) return {};
    const shard_id id = table_.shard_of(hash);
    const std::lock_guard lock(locks_[id.get()]);
    return table_.shard(id).scrape(hash);
}

http_reply tracker_service::http_failure(error_kind kind, std::string_view reason) {
    stats_.count(kind);
    // BitTorrent clients read the failure reason from a 200 answer (BEP 3).
    return http_reply{200, "text/plain", wire::encode_failure_response(reason)};
}

http_reply tracker_service::handle_http(std::string_view target, const io::address& peer,
                                        seconds now) {
    const auto split = wire::split_request_target(target, config_.query);
    if (!split) return http_failure(error_kind::bad_request, split.error().message());
    if (split->path == "/announce") return http_announce(split->query, peer, now);
    if (split->path == "/scrape") return http_scrape(split->query);
    if (split->path == "/stats") {
        return http_reply{200, "application/json", stats_.to_json(totals(), now - start_)};
    }
    if (split->path == "/metrics") {
        return http_reply{200, "text/plain; version=0.0.4",
                          stats_.to_prometheus(totals(), now - start_)};
    }
    stats_.count(error_kind::not_found);
    return http_reply{404, "text/plain", wire::encode_failure_response("not found")};
}

http_reply tracker_service::http_announce(std::string_view query, const io::address& peer,
                                          seconds now) {
    stats_.count(protocol::http, request_kind::announce);
    const auto req = wire::parse_announce_query(query, config_.query);
    if (!req) return http_failure(error_kind::bad_request, req.error().message());
    if (!allowed(req->hash)) return http_failure(error_kind::not_allowed, "torrent not allowed");
    // The `ip` parameter is ignored: answering with a client-chosen address would let anyone
    // point a swarm at a third party.
    announce_input in;
    in.hash = req->hash;
    in.peer = to_peer(peer, req->port);
    in.left = req->left;
    in.event = req->event;
    in.numwant = req->numwant;  // numwant=0: counters only, no peers
    in.families = peer_families::both;
    in.zones = zones_.load(std::memory_order_acquire);
    wire::announce_response out;
    const shard_id id = table_.shard_of(in.hash);
    result<swarm_counts> counts;
    {
        const std::lock_guard lock(locks_[id.get()]);
        counts = table_.shard(id).announce(in, now, out.peers4, out.peers6);
        if (journal_ != nullptr && counts) journal_->record(id, in);
    }
    if (!counts) return http_failure(error_kind::table_full, counts.error().reason);
    if (rollout_ != nullptr) rollout_->record(in, steady_millis());
    out.interval = static_cast<std::uint32_t>(config_.interval.count());
    out.min_interval = static_cast<std::uint32_t>(config_.min_interval.count());
    out.complete = counts->complete;
    out.incomplete = counts->incomplete;
    return http_reply{200, "text/plain", wire::encode_announce_response(out, req->format)};
}

http_reply tracker_service::http_scrape(std::string_view query) {
    stats_.count(protocol::http, request_kind::scrape);
    const auto hashes = wire::parse_scrape_query(query, config_.query);
    if (!hashes) return http_failure(error_kind::bad_request, hashes.error().message());
    if (hashes->empty()) return http_failure(error_kind::bad_request, "full scrape is not served");
    std::vector<wire::scrape_entry> entries;
    entries.reserve(hashes->size());
    for (const info_hash& h : *hashes) {
        const swarm_counts c = scrape_one(h);
        entries.push_back(wire::scrape_entry{h, c.complete, c.downloaded, c.incomplete});
    }
    return http_reply{200, "text/plain", wire::encode_scrape_response(entries)};
}

void tracker_service::handle_udp(std::span<const std::uint8_t> packet, const io::address& from,
                                 seconds now, std::vector<std::uint8_t>& reply) {
    reply.clear();
    result<wire::udp_request> req = fail(wire::tracker_udp_errc::bad_length,
                                         "request above 1496 bytes", packet.size());
    if (packet.size() <= udp_max_request_bytes) req = wire::parse_udp_request(packet);
    if (!req) {
        // Garbage is dropped, never answered: an answer could be aimed at a spoofed victim.
        stats_.count(error_kind::bad_request);
        return;
    }
    const peer_address who = to_peer(from, from.port());
    if (const auto* c = std::get_if<wire::udp_connect_request>(&*req)) {
        stats_.count(protocol::udp, request_kind::connect);
        wire::encode_udp(wire::udp_response{wire::udp_connect_response{
                             c->transaction_id, ids_.issue(ip_bytes(who), now)}},
                         reply);
        return;
    }
    // BEP 15: never act on announce/scrape without a valid connection id. Not even an error
    // packet goes back: the source address is unproven (it may be a spoofed victim), and a
    // client whose id went stale (a tracker restart) times out and connects again.
    auto valid = [&](std::uint64_t cid, request_kind kind) {
        stats_.count(protocol::udp, kind);
        if (ids_.verify(cid, ip_bytes(who), now)) return true;
        stats_.count(error_kind::bad_connection_id);
        return false;
    };
    if (const auto* a = std::get_if<wire::udp_announce_request>(&*req)) {
        if (valid(a->connection_id, request_kind::announce)) udp_announce(*a, from, now, reply);
        return;
    }
    const auto& sc = std::get<wire::udp_scrape_request>(*req);
    if (valid(sc.connection_id, request_kind::scrape)) udp_scrape(sc, reply);
}

void tracker_service::udp_announce(const wire::udp_announce_request& a, const io::address& from,
                                   seconds now, std::vector<std::uint8_t>& reply) {
    if (!allowed(a.hash)) {
        stats_.count(error_kind::not_allowed);
        udp_error(a.transaction_id, "torrent not allowed", reply);
        return;
    }
    announce_input in;
    in.hash = a.hash;
    in.peer = to_peer(from, a.port);
    in.left = a.left;
    in.event = a.event;
    const bool v6 = in.peer.address_bytes == 16;
    const std::uint32_t cap = v6 ? udp_max_peers_v6 : udp_max_peers_v4;
    // BEP 15: num_want -1 (any negative here) asks for the default; 0 asks for no peers.
    in.numwant = std::min(
        a.num_want < 0 ? config_.table.default_numwant : static_cast<std::uint32_t>(a.num_want),
        cap);
    in.families = v6 ? peer_families::ipv6 : peer_families::ipv4;
    in.zones = zones_.load(std::memory_order_acquire);
    wire::udp_announce_response out;
    out.transaction_id = a.transaction_id;
    std::vector<std::uint8_t> other;
    const shard_id id = table_.shard_of(in.hash);
    result<swarm_counts> counts;
    {
        const std::lock_guard lock(locks_[id.get()]);
        counts = table_.shard(id).announce(in, now, v6 ? other : out.peers, v6 ? out.peers : other);
        if (journal_ != nullptr && counts) journal_->record(id, in);
    }
    if (!counts) {
        stats_.count(error_kind::table_full);
        udp_error(a.transaction_id, counts.error().reason, reply);
        return;
    }
    if (rollout_ != nullptr) rollout_->record(in, steady_millis());
    out.interval = static_cast<std::uint32_t>(config_.interval.count());
    out.seeders = counts->complete;
    out.leechers = counts->incomplete;
    wire::encode_udp(wire::udp_response{std::move(out)}, reply);
}

void tracker_service::udp_scrape(const wire::udp_scrape_request& s,
                                 std::vector<std::uint8_t>& reply) {
    wire::udp_scrape_response out;
    out.transaction_id = s.transaction_id;
    out.entries.reserve(s.hashes.size());
    for (const info_hash& h : s.hashes) {
        const swarm_counts c = scrape_one(h);
        out.entries.push_back({c.complete, c.downloaded, c.incomplete});
    }
    wire::encode_udp(wire::udp_response{std::move(out)}, reply);
}

}  // namespace minibit::tracker
