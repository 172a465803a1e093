#include "netns_queue.hpp"

// glibc's <netinet/in.h> must come before the kernel headers (linux/libc-compat.h then skips
// the definitions glibc already made).
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <system_error>
#include <utility>

namespace delayline {

namespace {

constexpr int socket_buffer_bytes = 8 << 20;  // netlink receive buffer per queue (root: FORCE)
constexpr std::size_t verdict_bytes = 64;     // one verdict message, padded

/// Sends one netlink request that asks for an ACK and returns once the kernel accepted it.
void request(mnl_socket* nl, nlmsghdr* nlh, const std::string& what) {
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = static_cast<std::uint32_t>(now_ns());
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) fail(what);
    std::array<char, 8192> buf{};
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) fail(what);
    if (mnl_cb_run(buf.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq,
                   mnl_socket_get_portid(nl), nullptr, nullptr) < 0) {
        fail(what);
    }
}

}  // namespace

unique_fd::unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
}

unique_fd::~unique_fd() {
    if (fd_ >= 0) close(fd_);
}

void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void netns_queue::nl_close::operator()(mnl_socket* s) const {
    mnl_socket_close(s);
}

netns_queue::netns_queue(std::string netns, double loss_pct, std::uint64_t seed, std::size_t index)
    : netns_(std::move(netns)) {
    std::seed_seq seq{seed, std::uint64_t{index}};
    rng_.seed(seq);
    const long double p = loss_pct / 100.0L;
    loss_threshold_ = p <= 0 ? 0 : static_cast<std::uint64_t>(std::ldexp(p, 64));
}

netns_queue::netns_queue(netns_queue&&) noexcept = default;
netns_queue& netns_queue::operator=(netns_queue&&) noexcept = default;
netns_queue::~netns_queue() = default;

void netns_queue::bind(const queue_config& config) {
    queue_ = config.queue;
    nl_.reset(mnl_socket_open(NETLINK_NETFILTER));
    if (!nl_) fail(netns_ + ": netlink socket");
    const int fd = mnl_socket_get_fd(nl_.get());
    const int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &socket_buffer_bytes,
                   sizeof socket_buffer_bytes) != 0) {
        fail("SO_RCVBUFFORCE");
    }
    // A full buffer drops the packet (counted in user_dropped); no error on our recv for it.
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    if (mnl_socket_bind(nl_.get(), 0, MNL_SOCKET_AUTOPID) < 0) fail(netns_ + ": netlink bind");
    std::array<char, 512> buf{};
    nlmsghdr* nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, queue_);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
    request(nl_.get(), nlh, netns_ + ": bind queue " + std::to_string(queue_));
    nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, queue_);
    nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_META, 0);
    nfq_nlmsg_cfg_put_qmaxlen(nlh, config.maxlen);
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(config.gso ? NFQA_CFG_F_GSO : 0));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
    request(nl_.get(), nlh, netns_ + ": configure queue " + std::to_string(queue_));
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) fail("O_NONBLOCK");
    proc_.open("/proc/thread-self/net/netfilter/nfnetlink_queue");
}

int netns_queue::fd() const {
    return mnl_socket_get_fd(nl_.get());
}

void netns_queue::drop(std::uint32_t id) {
    drops_.push_back(id);
    ++counters_.lost;
}

void netns_queue::due(std::uint32_t id) {
    release_id_ = id;
    ++counters_.accepted;
    pending_release_ = true;
}

void netns_queue::flush() {
    if (drops_.empty() && !pending_release_) return;
    send_buf_.resize((drops_.size() + 1) * verdict_bytes);
    std::size_t used = 0;
    auto put = [&](int type, std::uint32_t id, int verdict) {
        nlmsghdr* nlh = nfq_nlmsg_put(send_buf_.data() + used, type, queue_);
        nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), verdict);
        used += NLMSG_ALIGN(nlh->nlmsg_len);
    };
    for (std::uint32_t id : drops_) put(NFQNL_MSG_VERDICT, id, NF_DROP);
    if (pending_release_) put(NFQNL_MSG_VERDICT_BATCH, release_id_, NF_ACCEPT);
    if (mnl_socket_sendto(nl_.get(), send_buf_.data(), used) < 0) {
        std::fprintf(stderr, "delayline %s: verdict: %s\n", netns_.c_str(), std::strerror(errno));
    }
    drops_.clear();
    pending_release_ = false;
    ++counters_.verdict_sends;
}

queue_counters netns_queue::counters() {
    // /proc/net/netfilter/nfnetlink_queue: queue, portid, waiting, copy mode, copy range,
    // queue_dropped, user_dropped, last id, 1.
    proc_.clear();
    proc_.seekg(0);
    std::string line;
    while (std::getline(proc_, line)) {
        std::istringstream in(line);
        unsigned q = 0, portid = 0, waiting = 0, mode = 0, range = 0;
        std::uint64_t queue_dropped = 0, user_dropped = 0;
        if (in >> q >> portid >> waiting >> mode >> range >> queue_dropped >> user_dropped &&
            q == queue_) {
            counters_.queue_dropped = queue_dropped;
            counters_.user_dropped = user_dropped;
        }
    }
    return counters_;
}

}  // namespace delayline
