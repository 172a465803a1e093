#include "minibit/wire/tracker_http.hpp"

#include <algorithm>

namespace minibit::wire {
namespace {

void put_string(std::string& out, std::string_view s) {
    out += std::to_string(s.size());
    out.push_back(':');
    out += s;
}

void put_bytes(std::string& out, std::span<const std::uint8_t> b) {
    put_string(out, {reinterpret_cast<const char*>(b.data()), b.size()});
}

void put_int(std::string& out, std::uint64_t v) {
    out.push_back('i');
    out += std::to_string(v);
    out.push_back('e');
}

void put_key_int(std::string& out, std::string_view key, std::uint64_t v) {
    put_string(out, key);
    put_int(out, v);
}

// Dotted quad or RFC 5952-ish full hex form; clients parse either with inet_pton.
std::string address_text(std::span<const std::uint8_t> a) {
    std::string s;
    if (a.size() == 4) {
        for (std::size_t i = 0; i < 4; ++i) {
            if (i != 0) s.push_back('.');
            s += std::to_string(a[i]);
        }
        return s;
    }
    static constexpr std::string_view hex = "0123456789abcdef";
    for (std::size_t i = 0; i < a.size(); i += 2) {
        if (i != 0) s.push_back(':');
        s.push_back(hex[a[i] >> 4U]);
        s.push_back(hex[a[i] & 0x0fU]);
        s.push_back(hex[a[i + 1] >> 4U]);
        s.push_back(hex[a[i + 1] & 0x0fU]);
    }
    return s;
}

// BEP 3 non-compact form: a list of {"ip": text, "port": int} (no peer id: we do not keep it).
void put_peer_dicts(std::string& out, const announce_response& r) {
    out.push_back('l');
    auto one = [&](std::span<const std::uint8_t> rec, std::size_t addr_bytes) {
        const auto port = static_cast<std::uint16_t>((rec[addr_bytes] << 8U) | rec[addr_bytes + 1]);
        out += "d2:ip";
        put_string(out, address_text(rec.first(addr_bytes)));
        put_key_int(out, "port", port);
        out.push_back('e');
    };
    const std::span<const std::uint8_t> p4(r.peers4);
    for (std::size_t i = 0; i + 6 <= p4.size(); i += 6) one(p4.subspan(i, 6), 4);
    const std::span<const std::uint8_t> p6(r.peers6);
    for (std::size_t i = 0; i + 18 <= p6.size(); i += 18) one(p6.subspan(i, 18), 16);
    out.push_back('e');
}

}  // namespace

std::string encode_announce_response(const announce_response& r, peer_list_format format) {
    std::string out;
    out.reserve(96 + r.peers4.size() + r.peers6.size());
    // Keys in raw byte order, as bencode requires.
    out.push_back('d');
    put_key_int(out, "complete", r.complete);
    put_key_int(out, "incomplete", r.incomplete);
    put_key_int(out, "interval", r.interval);
    if (r.min_interval) put_key_int(out, "min interval", *r.min_interval);
    put_string(out, "peers");
    if (format == peer_list_format::compact) {
        put_bytes(out, r.peers4);
        if (!r.peers6.empty()) {
            put_string(out, "peers6");
            put_bytes(out, r.peers6);
        }
    } else {
        put_peer_dicts(out, r);
    }
    if (!r.warning_message.empty()) {
        put_string(out, "warning message");
        put_string(out, r.warning_message);
    }
    out.push_back('e');
    return out;
}

std::string encode_scrape_response(std::span<const scrape_entry> entries) {
    std::vector<const scrape_entry*> sorted;
    sorted.reserve(entries.size());
    for (const auto& e : entries) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(),
              [](const scrape_entry* a, const scrape_entry* b) { return a->hash < b->hash; });
    sorted.erase(std::unique(sorted.begin(), sorted.end(),
                             [](const scrape_entry* a, const scrape_entry* b) {
                                 return a->hash == b->hash;
                             }),
                 sorted.end());
    std::string out = "d5:filesd";
    for (const scrape_entry* e : sorted) {
        put_bytes(out, e->hash.bytes);
        out.push_back('d');
        put_key_int(out, "complete", e->complete);
        put_key_int(out, "downloaded", e->downloaded);
        put_key_int(out, "incomplete", e->incomplete);
        out.push_back('e');
    }
    out += "ee";
    return out;
}

std::string encode_failure_response(std::string_view reason) {
    std::string out = "d14:failure reason";
    put_string(out, reason);
    out.push_back('e');
    return out;
}

}  // namespace minibit::wire
