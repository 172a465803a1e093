// Client side of the HTTP tracker protocol: parsing a tracker's bencoded answers.
#include "minibit/wire/tracker_http.hpp"

#include <algorithm>
#include <limits>

#include <arpa/inet.h>

#include "minibit/core/bencode.hpp"

namespace minibit::wire {
namespace {

using errc = tracker_http_errc;

/// The body as a dict, or the tracker's "failure reason" as a tracker_failure error (announce
/// and scrape answers alike).
result<bvalue> decode_answer(std::string_view body, const http_response_limits& limits) {
    if (body.size() > limits.max_body_bytes) {
        return fail(errc::too_long, "response body too long", limits.max_body_bytes);
    }
    bencode_limits bl;
    bl.max_depth = limits.max_depth;
    bl.max_string_bytes = limits.max_string_bytes;
    bl.max_input_bytes = limits.max_body_bytes;
    bl.max_elements = limits.max_peers * 8 + 64;
    bl.lenient_key_order = true;  // some trackers do not sort their keys
    auto v = bdecode(body, bl);
    if (!v) return fail(errc::bad_bencode, v.error().reason, v.error().offset);
    if (v->as_dict() == nullptr) return fail(errc::bad_bencode, "response is not a dict", 0);
    if (const bvalue* f = v->find("failure reason")) {
        const std::string* s = f->as_string();
        return fail(errc::tracker_failure, s != nullptr ? *s : std::string("(not a string)"));
    }
    return v;
}

result<std::uint32_t> get_count(const bvalue& dict, std::string_view key, bool required) {
    const bvalue* v = dict.find(key);
    if (v == nullptr) {
        if (required) return fail(errc::bad_bencode, "missing " + std::string(key));
        return 0U;
    }
    const std::int64_t* i = v->as_int();
    if (i == nullptr || *i < 0 || *i > std::numeric_limits<std::uint32_t>::max()) {
        return fail(errc::bad_bencode, std::string(key) + " is not a count");
    }
    return static_cast<std::uint32_t>(*i);
}

// Appends one {ip, port} dict as a compact record to peers4 or peers6; skips hostnames.
result<void> add_peer_dict(const bvalue& peer, announce_response& out) {
    const bvalue* ip_value = peer.find("ip");
    const bvalue* port_value = peer.find("port");
    const std::string* ip = ip_value != nullptr ? ip_value->as_string() : nullptr;
    const std::int64_t* port = port_value != nullptr ? port_value->as_int() : nullptr;
    if (ip == nullptr || port == nullptr || *port < 0 || *port > 65535) {
        return fail(errc::bad_bencode, "peer entry needs ip and port");
    }
    const auto p = static_cast<std::uint16_t>(*port);
    std::array<std::uint8_t, 16> addr{};
    std::vector<std::uint8_t>* dst = nullptr;
    std::size_t len = 0;
    if (inet_pton(AF_INET, ip->c_str(), addr.data()) == 1) {
        dst = &out.peers4;
        len = 4;
    } else if (inet_pton(AF_INET6, ip->c_str(), addr.data()) == 1) {
        dst = &out.peers6;
        len = 16;
    } else {
        return {};  // a DNS name: nothing compact to record
    }
    dst->insert(dst->end(), addr.begin(), addr.begin() + static_cast<std::ptrdiff_t>(len));
    dst->push_back(static_cast<std::uint8_t>(p >> 8U));
    dst->push_back(static_cast<std::uint8_t>(p & 0xffU));
    return {};
}

result<void> read_peers(const bvalue& dict, announce_response& out,
                        const http_response_limits& limits) {
    if (const bvalue* peers = dict.find("peers")) {
        if (const std::string* s = peers->as_string()) {
            if (s->size() % 6 != 0 || s->size() / 6 > limits.max_peers) {
                return fail(errc::bad_bencode, "compact peers length is not a multiple of 6");
            }
            out.peers4.assign(s->begin(), s->end());
        } else if (const auto* list = peers->as_list()) {
            if (list->size() > limits.max_peers) return fail(errc::too_long, "too many peers");
            for (const bvalue& p : *list) {
                if (auto r = add_peer_dict(p, out); !r) return r;
            }
        } else {
            return fail(errc::bad_bencode, "peers is neither a string nor a list");
        }
    }
    if (const bvalue* peers6 = dict.find("peers6")) {
        const std::string* s = peers6->as_string();
        if (s == nullptr || s->size() % 18 != 0 || s->size() / 18 > limits.max_peers) {
            return fail(errc::bad_bencode, "peers6 length is not a multiple of 18");
        }
        out.peers6.insert(out.peers6.end(), s->begin(), s->end());
    }
    return {};
}

}  // namespace

result<announce_response> parse_announce_response(std::string_view body,
                                                  const http_response_limits& limits) {
    auto root = decode_answer(body, limits);
    if (!root) return std::unexpected(std::move(root.error()));
    announce_response out;
    auto interval = get_count(*root, "interval", true);
    if (!interval) return std::unexpected(std::move(interval.error()));
    out.interval = *interval;
    if (root->find("min interval") != nullptr) {
        auto mi = get_count(*root, "min interval", true);
        if (!mi) return std::unexpected(std::move(mi.error()));
        out.min_interval = *mi;
    }
    auto complete = get_count(*root, "complete", false);
    auto incomplete = get_count(*root, "incomplete", false);
    if (!complete) return std::unexpected(std::move(complete.error()));
    if (!incomplete) return std::unexpected(std::move(incomplete.error()));
    out.complete = *complete;
    out.incomplete = *incomplete;
    if (const bvalue* w = root->find("warning message");
        w != nullptr && w->as_string() != nullptr) {
        out.warning_message = *w->as_string();
    }
    if (auto r = read_peers(*root, out, limits); !r) return std::unexpected(std::move(r.error()));
    return out;
}

result<std::vector<scrape_entry>> parse_scrape_response(std::string_view body,
                                                        const http_response_limits& limits) {
    auto root = decode_answer(body, limits);
    if (!root) return std::unexpected(std::move(root.error()));
    const bvalue* files = root->find("files");
    if (files == nullptr || files->as_dict() == nullptr) {
        return fail(errc::bad_bencode, "missing files dict");
    }
    std::vector<scrape_entry> out;
    for (const auto& [key, stats] : *files->as_dict()) {
        if (key.size() != 20 || stats.as_dict() == nullptr) {
            return fail(errc::bad_bencode, "files key is not a 20-byte info hash");
        }
        scrape_entry e;
        std::copy(key.begin(), key.end(), e.hash.bytes.begin());
        auto c = get_count(stats, "complete", false);
        auto d = get_count(stats, "downloaded", false);
        auto i = get_count(stats, "incomplete", false);
        if (!c || !d || !i) return fail(errc::bad_bencode, "scrape counter is not a count");
        e.complete = *c;
        e.downloaded = *d;
        e.incomplete = *i;
        out.push_back(e);
    }
    std::sort(out.begin(), out.end(),
              [](const scrape_entry& a, const scrape_entry& b) { return a.hash < b.hash; });
    return out;
}

}  // namespace minibit::wire
