#include "store_codec.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace minibit::tracker {
namespace {

void append_number(std::string& out, std::uint64_t v) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, v);
    out.append(digits, r.ptr);
}

constexpr std::size_t feed_head_bytes = 2 + 20;

}  // namespace

resp_command& resp_command::begin(std::size_t args) {
    buf_.clear();
    buf_ += '*';
    append_number(buf_, args);
    buf_ += "\r\n";
    return *this;
}

resp_command& resp_command::arg(std::string_view bytes) {
    buf_ += '$';
    append_number(buf_, bytes.size());
    buf_ += "\r\n";
    buf_.append(bytes);
    buf_ += "\r\n";
    return *this;
}

resp_command& resp_command::arg(std::span<const std::uint8_t> bytes) {
    return arg(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

resp_command& resp_command::arg(std::uint64_t number) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, number);
    return arg(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
}

void encode_feed(std::span<const journal_entry> entries, std::string& blob) {
    blob.reserve(blob.size() + entries.size() * (feed_head_bytes + 6));
    for (const journal_entry& e : entries) {
        blob += static_cast<char>(e.flags);
        blob += static_cast<char>(e.endpoint_bytes);
        blob.append(reinterpret_cast<const char*>(e.hash.bytes.data()), 20);
        blob.append(reinterpret_cast<const char*>(e.endpoint.data()), e.endpoint_bytes);
    }
}

std::optional<std::vector<journal_entry>> decode_feed(std::string_view blob) {
    std::vector<journal_entry> out;
    out.reserve(blob.size() / (feed_head_bytes + 6));
    std::size_t at = 0;
    while (at < blob.size()) {
        if (blob.size() - at < feed_head_bytes) return std::nullopt;
        journal_entry e;
        e.flags = static_cast<std::uint8_t>(blob[at]);
        e.endpoint_bytes = static_cast<std::uint8_t>(blob[at + 1]);
        if ((e.endpoint_bytes != 6 && e.endpoint_bytes != 18) ||
            (e.flags & ~(journal_seeder | journal_stopped | journal_completed)) != 0 ||
            blob.size() - at - feed_head_bytes < e.endpoint_bytes) {
            return std::nullopt;
        }
        std::memcpy(e.hash.bytes.data(), blob.data() + at + 2, 20);
        std::memcpy(e.endpoint.data(), blob.data() + at + feed_head_bytes, e.endpoint_bytes);
        at += feed_head_bytes + e.endpoint_bytes;
        out.push_back(e);
    }
    return out;
}

std::optional<peer_address> address_of(std::string_view endpoint) {
    if (endpoint.size() != 6 && endpoint.size() != 18) return std::nullopt;
    peer_address p;
    const std::size_t ip = endpoint.size() - 2;
    std::memcpy(p.address.data(), endpoint.data(), ip);
    p.address_bytes = static_cast<std::uint8_t>(ip);
    p.port = static_cast<std::uint16_t>((static_cast<std::uint8_t>(endpoint[ip]) << 8U) |
                                        static_cast<std::uint8_t>(endpoint[ip + 1]));
    return p;
}

rewrite_filter::rewrite_filter(clock::duration period, std::size_t max_keys)
    : period_(period), max_keys_(std::max<std::size_t>(max_keys, 1)) {}

bool rewrite_filter::admit(const journal_entry& e, clock::time_point now) {
    if ((e.flags & (journal_stopped | journal_completed)) != 0) return true;
    if (now - started_ >= period_ || used_ >= max_keys_) {
        clear();  // a new window: every peer may be written once more
        started_ = now;
    }
    // Hash of swarm, endpoint and role.
    std::array<std::uint8_t, 40> key{};
    std::memcpy(key.data(), e.hash.bytes.data(), 20);
    std::memcpy(key.data() + 20, e.endpoint.data(), e.endpoint_bytes);
    key[38] = e.endpoint_bytes;
    key[39] = e.flags & journal_seeder;
    const std::uint64_t h = XXH3_64bits(key.data(), key.size());
    return insert(h == 0 ? 1 : h);
}

bool rewrite_filter::insert(std::uint64_t key) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = key & mask;; i = (i + 1) & mask) {
        if (slots_[i] == key) return false;
        if (slots_[i] == 0) {
            slots_[i] = key;
            ++used_;
            return true;
        }
    }
}

void rewrite_filter::grow() {
    std::vector<std::uint64_t> old(std::max<std::size_t>(1024, 2 * slots_.size()), 0);
    old.swap(slots_);
    used_ = 0;
    for (const std::uint64_t key : old) {
        if (key != 0) insert(key);  // never grows again: the new table is at most a quarter full
    }
}

void rewrite_filter::filter(std::vector<journal_entry>& entries, clock::time_point now) {
    std::erase_if(entries, [&](const journal_entry& e) { return !admit(e, now); });
}

void rewrite_filter::clear() {
    // A table far larger than the last window needed shrinks back: memory follows the window.
    if (slots_.size() > 1024 && 8 * used_ < slots_.size()) {
        std::vector<std::uint64_t>().swap(slots_);
    } else {
        std::fill(slots_.begin(), slots_.end(), 0);
    }
    used_ = 0;
}

std::string store_keys::swarm(const info_hash& h) const {
    std::string key = prefix + "s:";
    key.append(reinterpret_cast<const char*>(h.bytes.data()), h.bytes.size());
    return key;
}

namespace {

std::string_view endpoint_view(const journal_entry& e) {
    return {reinterpret_cast<const char*>(e.endpoint.data()), e.endpoint_bytes};
}

bool same_peer(const journal_entry& a, const journal_entry& b) {
    return a.hash == b.hash && endpoint_view(a) == endpoint_view(b);
}

/// The commands of one swarm's entries [first, last) (sorted by endpoint, announce order kept
/// within one endpoint). Returns true when the swarm still has announced peers.
bool encode_swarm(std::span<const journal_entry> group, const batch_params& p, resp_command& cmd,
                  std::size_t& commands, const std::function<void(std::string_view)>& emit) {
    std::vector<const journal_entry*> live;
    std::vector<const journal_entry*> gone;
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (i + 1 < group.size() && same_peer(group[i], group[i + 1]))
            continue;  // a later one wins
        ((group[i].flags & journal_stopped) != 0 ? gone : live).push_back(&group[i]);
    }
    const std::string key = p.keys->swarm(group.front().hash);
    const std::uint64_t expiry = p.now_ms + p.ttl_ms;
    if (!live.empty()) {
        // GT: a slower instance's older announce never moves an expiry back.
        cmd.begin(3 + 2 * live.size()).arg("ZADD").arg(key).arg("GT");
        for (const auto* e : live) {
            cmd.arg(peer_score(expiry, (e->flags & journal_seeder) != 0)).arg(endpoint_view(*e));
        }
        emit(cmd.view());
        cmd.begin(3).arg("PEXPIRE").arg(key).arg(p.ttl_ms);
        emit(cmd.view());
        commands += 2;
    }
    if (!gone.empty()) {
        cmd.begin(2 + gone.size()).arg("ZREM").arg(key);
        for (const auto* e : gone) cmd.arg(endpoint_view(*e));
        emit(cmd.view());
        ++commands;
    }
    if (((group.front().hash.bytes[19] ^ p.batch_number) & 15U) == 0) {
        // Peers that stopped announcing without a stopped event: dropped where they live, a
        // swarm at a time, never by a sweep of the whole store.
        const std::string below = "(" + std::to_string(peer_score(p.now_ms, false));
        cmd.begin(4).arg("ZREMRANGEBYSCORE").arg(key).arg("-inf").arg(below);
        emit(cmd.view());
        ++commands;
    }
    return !live.empty();
}

}  // namespace

std::size_t encode_batch(std::vector<journal_entry>& entries, const batch_params& p,
                         const std::function<void(std::string_view)>& emit) {
    if (entries.empty()) return 0;
    resp_command cmd;
    std::string blob;
    encode_feed(entries, blob);  // before sorting: the feed keeps announce order
    std::stable_sort(entries.begin(), entries.end(),
                     [](const journal_entry& a, const journal_entry& b) {
                         if (a.hash != b.hash) return a.hash < b.hash;
                         return endpoint_view(a) < endpoint_view(b);
                     });
    std::size_t commands = 0;
    std::vector<const info_hash*> live_swarms;
    for (std::size_t first = 0; first < entries.size();) {
        std::size_t last = first + 1;
        while (last < entries.size() && entries[last].hash == entries[first].hash) ++last;
        if (encode_swarm(std::span(entries).subspan(first, last - first), p, cmd, commands, emit)) {
            live_swarms.push_back(&entries[first].hash);
        }
        first = last;
    }
    if (!live_swarms.empty()) {
        cmd.begin(3 + 2 * live_swarms.size()).arg("ZADD").arg(p.keys->registry()).arg("GT");
        for (const auto* h : live_swarms) cmd.arg(p.now_ms + p.ttl_ms).arg(h->view());
        emit(cmd.view());
        ++commands;
    }
    cmd.begin(10)
        .arg("XADD")
        .arg(p.keys->feed())
        .arg("MINID")
        .arg("~")
        .arg(p.feed_cutoff_ms)
        .arg("*")
        .arg("i")
        .arg(p.instance)
        .arg("d")
        .arg(blob);
    emit(cmd.view());
    return commands + 1;
}

}  // namespace minibit::tracker
