#include "minibit/wire/tracker_udp.hpp"

#include <algorithm>

namespace minibit::wire {
namespace {

using errc = tracker_udp_errc;

// Big-endian reader over a span whose length the caller has already checked.
class be_reader {
public:
    explicit be_reader(std::span<const std::uint8_t> p) : p_(p) {}
    std::uint64_t u64() { return (std::uint64_t{u32()} << 32U) | u32(); }
    std::uint32_t u32() {
        const std::uint32_t v = (std::uint32_t{p_[pos_]} << 24U) |
                                (std::uint32_t{p_[pos_ + 1]} << 16U) |
                                (std::uint32_t{p_[pos_ + 2]} << 8U) | p_[pos_ + 3];
        pos_ += 4;
        return v;
    }
    std::uint16_t u16() {
        const auto v = static_cast<std::uint16_t>((p_[pos_] << 8U) | p_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    template <std::size_t N>
    void bytes(std::array<std::uint8_t, N>& out) {
        std::copy_n(p_.begin() + static_cast<std::ptrdiff_t>(pos_), N, out.begin());
        pos_ += N;
    }
    [[nodiscard]] std::span<const std::uint8_t> rest() const { return p_.subspan(pos_); }

private:
    std::span<const std::uint8_t> p_;
    std::size_t pos_ = 0;
};

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (unsigned shift = 32; shift > 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>(v >> (shift - 8)));
    }
}
void put64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    put32(out, static_cast<std::uint32_t>(v >> 32U));
    put32(out, static_cast<std::uint32_t>(v));
}
void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8U));
    out.push_back(static_cast<std::uint8_t>(v));
}
void put_bytes(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> b) {
    out.insert(out.end(), b.begin(), b.end());
}

result<udp_request> parse_announce(std::span<const std::uint8_t> packet) {
    if (packet.size() < udp_announce_request_bytes) {
        return fail(errc::truncated, "announce shorter than 98 bytes", packet.size());
    }
    be_reader r(packet);
    udp_announce_request a;
    a.connection_id = r.u64();
    (void)r.u32();  // action, already checked
    a.transaction_id = r.u32();
    r.bytes(a.hash.bytes);
    r.bytes(a.peer_id);
    a.downloaded = r.u64();
    a.left = r.u64();
    a.uploaded = r.u64();
    const std::uint32_t event = r.u32();
    if (event > 3) return fail(errc::bad_event, "announce event above 3", 80);
    a.event = static_cast<announce_event>(event);
    a.ip = r.u32();
    a.key = r.u32();
    a.num_want = static_cast<std::int32_t>(r.u32());
    a.port = r.u16();
    return a;
}

result<udp_request> parse_scrape(std::span<const std::uint8_t> packet) {
    const std::size_t body = packet.size() - udp_scrape_header_bytes;
    if (body % 20 != 0)
        return fail(errc::bad_length, "scrape body not a multiple of 20", packet.size());
    const std::size_t n = body / 20;
    if (n == 0 || n > udp_max_scrape_hashes) {
        return fail(errc::too_many_hashes, "scrape needs 1..74 info hashes",
                    udp_scrape_header_bytes);
    }
    be_reader r(packet);
    udp_scrape_request s;
    s.connection_id = r.u64();
    (void)r.u32();
    s.transaction_id = r.u32();
    s.hashes.resize(n);
    for (auto& h : s.hashes) r.bytes(h.bytes);
    return s;
}

result<udp_response> parse_announce_response(std::span<const std::uint8_t> packet,
                                             udp_peer_family family) {
    const auto rec = static_cast<std::size_t>(family);
    if (packet.size() < udp_announce_response_header_bytes) {
        return fail(errc::truncated, "announce response shorter than 20 bytes", packet.size());
    }
    if ((packet.size() - udp_announce_response_header_bytes) % rec != 0) {
        return fail(errc::bad_length, "peer list not a multiple of the record size", packet.size());
    }
    be_reader r(packet);
    (void)r.u32();
    udp_announce_response a;
    a.transaction_id = r.u32();
    a.interval = r.u32();
    a.leechers = r.u32();
    a.seeders = r.u32();
    const auto rest = r.rest();
    a.peers.assign(rest.begin(), rest.end());
    return a;
}

result<udp_response> parse_scrape_response(std::span<const std::uint8_t> packet) {
    if ((packet.size() - 8) % 12 != 0) {
        return fail(errc::bad_length, "scrape response not 8 + 12n bytes", packet.size());
    }
    be_reader r(packet);
    (void)r.u32();
    udp_scrape_response s;
    s.transaction_id = r.u32();
    s.entries.resize((packet.size() - 8) / 12);
    for (auto& e : s.entries) {
        e.seeders = r.u32();
        e.completed = r.u32();
        e.leechers = r.u32();
    }
    return s;
}

}  // namespace

result<std::uint32_t> udp_transaction_id(std::span<const std::uint8_t> packet) {
    // Requests carry it at byte 12, after the 8-byte connection id and the action.
    if (packet.size() < 16)
        return fail(errc::truncated, "request shorter than 16 bytes", packet.size());
    be_reader r(packet.subspan(12));
    return r.u32();
}

result<udp_request> parse_udp_request(std::span<const std::uint8_t> packet) {
    if (packet.size() < 16)
        return fail(errc::truncated, "request shorter than 16 bytes", packet.size());
    be_reader r(packet);
    const std::uint64_t connection_id = r.u64();
    const std::uint32_t action = r.u32();
    const std::uint32_t transaction_id = r.u32();
    switch (static_cast<udp_action>(action)) {
    case udp_action::connect:
        if (connection_id != udp_protocol_id) {
            return fail(errc::bad_protocol_id, "connect without the protocol id", 0);
        }
        if (packet.size() != udp_connect_bytes) {
            return fail(errc::bad_length, "connect request is not 16 bytes", packet.size());
        }
        return udp_connect_request{transaction_id};
    case udp_action::announce: return parse_announce(packet);
    case udp_action::scrape: return parse_scrape(packet);
    case udp_action::error: break;
    }
    return fail(errc::bad_action, "unknown request action", 8);
}

result<udp_response> parse_udp_response(std::span<const std::uint8_t> packet,
                                        udp_peer_family family) {
    if (packet.size() < 8)
        return fail(errc::truncated, "response shorter than 8 bytes", packet.size());
    be_reader r(packet);
    const std::uint32_t action = r.u32();
    const std::uint32_t transaction_id = r.u32();
    switch (static_cast<udp_action>(action)) {
    case udp_action::connect: {
        if (packet.size() != udp_connect_bytes) {
            return fail(errc::bad_length, "connect response is not 16 bytes", packet.size());
        }
        return udp_connect_response{transaction_id, r.u64()};
    }
    case udp_action::announce: return parse_announce_response(packet, family);
    case udp_action::scrape: return parse_scrape_response(packet);
    case udp_action::error: {
        const auto rest = r.rest();
        return udp_error_response{transaction_id, std::string(rest.begin(), rest.end())};
    }
    }
    return fail(errc::bad_action, "unknown response action", 0);
}

void encode_udp(const udp_request& request, std::vector<std::uint8_t>& out) {
    if (const auto* c = std::get_if<udp_connect_request>(&request)) {
        put64(out, udp_protocol_id);
        put32(out, static_cast<std::uint32_t>(udp_action::connect));
        put32(out, c->transaction_id);
    } else if (const auto* a = std::get_if<udp_announce_request>(&request)) {
        put64(out, a->connection_id);
        put32(out, static_cast<std::uint32_t>(udp_action::announce));
        put32(out, a->transaction_id);
        put_bytes(out, a->hash.bytes);
        put_bytes(out, a->peer_id);
        put64(out, a->downloaded);
        put64(out, a->left);
        put64(out, a->uploaded);
        put32(out, static_cast<std::uint32_t>(a->event));
        put32(out, a->ip);
        put32(out, a->key);
        put32(out, static_cast<std::uint32_t>(a->num_want));
        put16(out, a->port);
    } else if (const auto* s = std::get_if<udp_scrape_request>(&request)) {
        put64(out, s->connection_id);
        put32(out, static_cast<std::uint32_t>(udp_action::scrape));
        put32(out, s->transaction_id);
        for (const auto& h : s->hashes) put_bytes(out, h.bytes);
    }
}

void encode_udp(const udp_response& response, std::vector<std::uint8_t>& out) {
    if (const auto* c = std::get_if<udp_connect_response>(&response)) {
        put32(out, static_cast<std::uint32_t>(udp_action::connect));
        put32(out, c->transaction_id);
        put64(out, c->connection_id);
    } else if (const auto* a = std::get_if<udp_announce_response>(&response)) {
        put32(out, static_cast<std::uint32_t>(udp_action::announce));
        put32(out, a->transaction_id);
        put32(out, a->interval);
        put32(out, a->leechers);
        put32(out, a->seeders);
        put_bytes(out, a->peers);
    } else if (const auto* s = std::get_if<udp_scrape_response>(&response)) {
        put32(out, static_cast<std::uint32_t>(udp_action::scrape));
        put32(out, s->transaction_id);
        for (const auto& e : s->entries) {
            put32(out, e.seeders);
            put32(out, e.completed);
            put32(out, e.leechers);
        }
    } else if (const auto* e = std::get_if<udp_error_response>(&response)) {
        put32(out, static_cast<std::uint32_t>(udp_action::error));
        put32(out, e->transaction_id);
        out.insert(out.end(), e->message.begin(), e->message.end());
    }
}

}  // namespace minibit::wire
