#include "minibit/loadgen/announce_workload.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <fstream>

#include <fmt/format.h>

namespace minibit::loadgen {

namespace {

/// Every simulated torrent is 1 GiB; leechers report progress in sixteenths of it.
constexpr std::uint64_t torrent_bytes = 1ULL << 30U;
/// A peer that completes during its session does so at this announce.
constexpr std::uint8_t completion_seq = 4;

result<std::uint16_t> parse_port(std::string_view text, std::string_view url) {
    std::uint32_t port = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, port);
    if (ec != std::errc{} || ptr != end || port == 0 || port > 65535)
        return fail(announce_errc::bad_url, fmt::format("bad port in '{}'", url));
    return static_cast<std::uint16_t>(port);
}

}  // namespace

result<tracker_url_parts> parse_tracker_url(std::string_view url) {
    tracker_url_parts out;
    std::string_view rest;
    if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else if (url.starts_with("udp://")) {
        out.scheme = tracker_scheme::udp;
        rest = url.substr(6);
    } else {
        return fail(announce_errc::bad_url, fmt::format("'{}' is not http:// or udp://", url));
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos && out.scheme == tracker_scheme::http)
        out.path = std::string(rest.substr(slash));
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos)
        return fail(announce_errc::bad_url, fmt::format("'{}' has no port", url));
    out.host = std::string(authority.substr(0, colon));
    auto port = parse_port(authority.substr(colon + 1), url);
    if (!port) return std::unexpected(port.error());
    out.port = *port;
    const std::string ip = out.host == "localhost" ? "127.0.0.1" : out.host;
    in_addr a{};
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1)
        return fail(announce_errc::bad_url,
                    fmt::format("host '{}' is not a numeric IPv4 address or localhost", out.host));
    out.ipv4_be = a.s_addr;
    if (out.path.empty() || out.path.find_first_of(" \r\n?") != std::string::npos)
        return fail(announce_errc::bad_url, fmt::format("bad path in '{}'", url));
    return out;
}

info_hash torrent_hash(std::uint32_t t) {
    return sha1(fmt::format("minibit-loadgen torrent {}", t));
}

result<void> write_info_hashes(const std::filesystem::path& file, std::uint32_t torrents) {
    std::ofstream out(file, std::ios::trunc);
    for (std::uint32_t t = 0; t < torrents && out; ++t) out << torrent_hash(t).hex() << '\n';
    out.flush();
    if (!out) return fail(announce_errc::io, fmt::format("cannot write {}", file.string()));
    return {};
}

announce_workload::announce_workload(const announce_options& options)
    : peers_(std::max<std::uint32_t>(options.peers, 1)), numwant_(options.numwant) {
    const std::uint32_t torrents = std::max<std::uint32_t>(options.torrents, 1);
    hashes_.reserve(torrents);
    for (std::uint32_t t = 0; t < torrents; ++t) hashes_.push_back(torrent_hash(t));
    for (std::uint32_t i = 0; i < peers_.size(); ++i) peers_[i].seeder = i % 4 == 0;
}

wire::announce_event announce_workload::event_of(std::uint32_t peer, peer_state& st) const {
    if (st.seq == 0) {
        st.seeder = peer % 4 == 0;  // a new session starts as the peer started the first one
        return wire::announce_event::started;
    }
    if (st.seq == session_announces - 1) return wire::announce_event::stopped;
    if (st.seq == completion_seq && !st.seeder && peer % 2 == 1) {
        st.seeder = true;
        return wire::announce_event::completed;
    }
    return wire::announce_event::none;
}

planned_announce announce_workload::next() {
    const std::uint32_t peer = cursor_;
    cursor_ = cursor_ + 1 == peers_.size() ? 0 : cursor_ + 1;
    ++issued_;
    peer_state& st = peers_[peer];
    const auto torrents = static_cast<std::uint32_t>(hashes_.size());
    planned_announce p;
    p.peer = peer;
    auto& r = p.request;
    r.event = event_of(peer, st);
    r.hash = hashes_[peer % torrents];
    const auto id = fmt::format("-MB0100-{:012}", peer);
    std::copy_n(id.begin(), r.peer_id.size(), r.peer_id.begin());
    r.port = static_cast<std::uint16_t>(1024 + peer / torrents);
    const std::uint64_t progress = torrent_bytes / 16 * st.seq;
    r.downloaded = st.seeder ? 0 : progress;
    r.left = st.seeder ? 0 : torrent_bytes - progress;
    r.uploaded = std::uint64_t{st.seq} << 20U;
    if (r.event == wire::announce_event::stopped) r.numwant = 0;
    else r.numwant = st.seeder ? std::max<std::uint32_t>(1, numwant_ / 4) : numwant_;
    r.key = fmt::format("{:08x}", peer);
    st.seq = static_cast<std::uint8_t>((st.seq + 1) % session_announces);
    return p;
}

}  // namespace minibit::loadgen
