// Port ownership from the kernel's socket tables, asked through NETLINK_SOCK_DIAG (TCP: only
// the listening sockets, so the kernel does not walk its established hash, which reading
// /proc/net/tcp does at a few milliseconds per read whatever the socket count); the
// /proc/net/{tcp,udp}{,6} tables are the fallback where sock_diag is refused. The race that remains: between the check
// before a group binds and its binds, another process may bind the port too. The check after
// the binds closes it for every program that checks (each one sees the other's sockets, so the
// later one, or both, fail loudly; neither serves half a swarm in silence), but not for a
// foreign program that binds with SO_REUSEPORT after our last check. Until that second check a
// group's listeners may briefly accept connections they then reset when the start fails.
// Known limits: an IPV6_V6ONLY socket on [::] counts as overlapping IPv4 addresses (the tables
// do not show the option), and sockets in other network namespaces are not seen (nor can they
// share our port).
#include "minibit/io/port_owner.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace minibit::io {
namespace {

constexpr int tcp_listen_state = 0x0A;  // TCP_LISTEN in /proc/net/tcp's "st" column

/// A socket address as the tables show it: 16 bytes (IPv4 as ::ffff:a.b.c.d) and the port.
struct table_entry {
    std::array<std::uint8_t, 16> ip{};
    bool v4 = false;
    std::uint16_t port = 0;
    int state = 0;
    unsigned long inode = 0;
};

bool is_unspecified(const table_entry& e) {
    const auto from = e.v4 ? e.ip.begin() + 12 : e.ip.begin();
    return std::all_of(from, e.ip.end(), [](std::uint8_t b) { return b == 0; });
}

table_entry entry_of(const address& a) {
    table_entry e;
    e.port = a.port();
    if (a.family() == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(a.data());
        e.v4 = true;
        e.ip[10] = e.ip[11] = 0xff;
        std::memcpy(e.ip.data() + 12, &sin->sin_addr, 4);
    } else {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.data());
        std::memcpy(e.ip.data(), &sin6->sin6_addr, 16);
        static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0,    0,
                                                             0, 0, 0, 0, 0xff, 0xff};
        e.v4 = std::equal(mapped.begin(), mapped.end(), e.ip.begin());
    }
    return e;
}

/// Whether traffic for one address could reach a socket bound to the other (same port).
bool overlaps(const table_entry& a, const table_entry& b) {
    const bool a_any = is_unspecified(a);
    const bool b_any = is_unspecified(b);
    if ((a_any && !a.v4) || (b_any && !b.v4)) return true;  // [::] is dual-stack by default
    if (a_any) return b.v4;
    if (b_any) return a.v4;
    return a.ip == b.ip;
}

/// Parses "HEX:PORT" of /proc/net/{tcp,udp}{,6}: each 32-bit word of the address is printed
/// as the host-order value of its network-order bytes.
bool parse_local(std::string_view text, bool v6, table_entry& e) {
    const auto colon = text.find(':');
    const std::size_t hex_len = v6 ? 32 : 8;
    if (colon != hex_len || text.size() != hex_len + 5) return false;
    for (std::size_t w = 0; w < hex_len / 8; ++w) {
        const std::string word(text.substr(w * 8, 8));
        const auto v = static_cast<std::uint32_t>(std::stoul(word, nullptr, 16));
        std::memcpy(e.ip.data() + (v6 ? w * 4 : 12), &v, 4);
    }
    if (!v6) e.ip[10] = e.ip[11] = 0xff;
    e.v4 = !v6 ||
           (std::all_of(e.ip.begin(), e.ip.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
            e.ip[10] == 0xff && e.ip[11] == 0xff);
    e.port = static_cast<std::uint16_t>(
        std::stoul(std::string(text.substr(colon + 1)), nullptr, 16));
    return true;
}

/// The sockets of one table on `port`; a missing table (no IPv6) is empty.
std::vector<table_entry> read_table(const char* path, bool v6, std::uint16_t port) {
    std::vector<table_entry> out;
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
        table_entry e;
        fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
            timeout >> e.inode;
        try {
            if (!fields || !parse_local(local, v6, e) || e.port != port) continue;
            e.state = static_cast<int>(std::stoul(state, nullptr, 16));
        } catch (const std::exception&) {
            continue;  // a line we do not understand holds nothing we could compare
        }
        out.push_back(e);
    }
    return out;
}

/// One inet_diag record as a table entry.
table_entry entry_of(const inet_diag_msg& m) {
    table_entry e;
    e.port = ntohs(m.id.idiag_sport);
    e.state = m.idiag_state;
    e.inode = m.idiag_inode;
    if (m.idiag_family == AF_INET) {
        e.v4 = true;
        e.ip[10] = e.ip[11] = 0xff;
        std::memcpy(e.ip.data() + 12, m.id.idiag_src, 4);
    } else {
        std::memcpy(e.ip.data(), m.id.idiag_src, 16);
        e.v4 = std::all_of(e.ip.begin(), e.ip.begin() + 10,
                           [](std::uint8_t b) { return b == 0; }) &&
               e.ip[10] == 0xff && e.ip[11] == 0xff;
    }
    return e;
}

/// The sockets of one family and protocol on `port` (TCP: listening ones only) through
/// sock_diag; nullopt when the kernel refuses the request or the answer is cut short.
std::optional<std::vector<table_entry>> diag_table(int family, bool tcp, std::uint16_t port) {
    const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return std::nullopt;
    struct {
        nlmsghdr head;
        inet_diag_req_v2 req;
    } ask{};
    ask.head.nlmsg_len = sizeof ask;
    ask.head.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask.head.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    ask.req.sdiag_family = static_cast<std::uint8_t>(family);
    ask.req.sdiag_protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
    ask.req.idiag_states = tcp ? 1U << tcp_listen_state : ~0U;
    ask.req.id.idiag_sport = htons(port);  // a filter the kernel applies where it can
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, &ask, sizeof ask, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
        static_cast<ssize_t>(sizeof ask)) {
        ::close(fd);
        return std::nullopt;
    }
    std::vector<table_entry> out;
    alignas(nlmsghdr) std::array<char, 32768> buf{};
    for (int reads = 0; reads < 100000; ++reads) {  // bounded: a dump ends with NLMSG_DONE
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        // NLMSG_OK/NEXT/DATA without their C casts: each header and payload is copied out of
        // the buffer, so no alignment is assumed and a short or overlong length ends the walk.
        const auto len = static_cast<std::size_t>(n);
        std::size_t at = 0;
        while (at + sizeof(nlmsghdr) <= len) {
            nlmsghdr h{};
            std::memcpy(&h, buf.data() + at, sizeof h);
            if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - at) break;
            if (h.nlmsg_type == NLMSG_DONE) {
                ::close(fd);
                return out;
            }
            if (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
                ::close(fd);
                return std::nullopt;
            }
            inet_diag_msg m{};
            std::memcpy(&m, buf.data() + at + NLMSG_HDRLEN, sizeof m);
            table_entry e = entry_of(m);
            if (e.port == port) out.push_back(e);
            at += NLMSG_ALIGN(h.nlmsg_len);
        }
    }
    ::close(fd);
    return std::nullopt;
}

/// Every socket on `port` (TCP: listening or every state, as the source gives them), IPv4 and
/// IPv6, from sock_diag or else from the /proc tables.
std::vector<table_entry> sockets_on(std::uint16_t port, bool tcp) {
    auto v4 = diag_table(AF_INET, tcp, port);
    auto v6 = v4 ? diag_table(AF_INET6, tcp, port) : std::nullopt;
    if (v4 && v6) {
        v4->insert(v4->end(), v6->begin(), v6->end());
        return *v4;
    }
    std::vector<table_entry> found = read_table(tcp ? "/proc/net/tcp" : "/proc/net/udp", false,
                                                port);
    for (const auto& e : read_table(tcp ? "/proc/net/tcp6" : "/proc/net/udp6", true, port)) {
        found.push_back(e);
    }
    return found;
}

/// Inodes of the sockets this process holds ("socket:[N]" links in /proc/self/fd).
std::unordered_set<unsigned long> own_socket_inodes() {
    std::unordered_set<unsigned long> out;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return out;
    std::array<char, 64> target{};
    while (const dirent* d = ::readdir(dir)) {
        const std::string link = std::string("/proc/self/fd/") + d->d_name;
        const ssize_t n = ::readlink(link.c_str(), target.data(), target.size() - 1);
        if (n <= 0) continue;
        const std::string_view t(target.data(), static_cast<std::size_t>(n));
        if (t.starts_with("socket:[") && t.ends_with("]")) {
            out.insert(std::stoul(std::string(t.substr(8, t.size() - 9))));
        }
    }
    ::closedir(dir);
    return out;
}

}  // namespace

error address_in_use(const address& addr, transport t) {
    return make_error(io_errc::address_in_use,
                      fmt::format("address {} is in use by another process ({})", addr.to_string(),
                                  t == transport::tcp ? "TCP" : "UDP"));
}

result<address> pick_free_port(const address& addr, transport t) {
    if (addr.port() != 0) return addr;
    const int type = t == transport::tcp ? SOCK_STREAM : SOCK_DGRAM;
    const int fd = ::socket(addr.family(), type | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(errno_error(errno, "socket"));
    // No SO_REUSEADDR or SO_REUSEPORT: the kernel then picks a port no socket shares.
    if (::bind(fd, addr.data(), addr.size()) != 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(errno_error(err, "bind " + addr.to_string()));
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int rc = ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return std::unexpected(errno_error(err, "getsockname"));
    return address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

result<void> check_sole_owner(const address& addr, transport t) {
    const table_entry want = entry_of(addr);
    const bool tcp = t == transport::tcp;
    const std::vector<table_entry> found = sockets_on(want.port, tcp);
    std::unordered_set<unsigned long> ours;
    bool ours_read = false;
    for (const table_entry& e : found) {
        if ((tcp && e.state != tcp_listen_state) || !overlaps(want, e)) continue;
        if (!ours_read) {
            ours = own_socket_inodes();
            ours_read = true;
        }
        // Inode 0: a socket being torn down, owned by nobody.
        if (e.inode != 0 && !ours.contains(e.inode))
            return std::unexpected(address_in_use(addr, t));
    }
    return {};
}

}  // namespace minibit::io
