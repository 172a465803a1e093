#include "delay_line.hpp"

// glibc's <netinet/in.h> must come before the kernel headers (linux/libc-compat.h then skips
// the definitions glibc already made).
#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/epoll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace delayline {

namespace {

constexpr std::uint64_t stop_key = ~std::uint64_t{0};
constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::int64_t clock_refresh_ns = 100'000'000;

std::int64_t real_minus_mono() {
    timespec real{}, mono{};
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return (std::int64_t{real.tv_sec} - mono.tv_sec) * ns_per_s + real.tv_nsec - mono.tv_nsec;
}

}  // namespace

void lateness_histogram::add(std::int64_t late_ns) {
    const std::int64_t i = (late_ns + offset_ns) / step_ns;
    ++counts_[static_cast<std::size_t>(
        std::clamp<std::int64_t>(i, 0, static_cast<std::int64_t>(buckets) - 1))];
    ++total_;
    max_ns_ = std::max(max_ns_, late_ns);
}

void lateness_histogram::merge(const lateness_histogram& other) {
    for (std::size_t i = 0; i < buckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
}

double lateness_histogram::quantile_us(double q) const {
    const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        seen += counts_[i];
        if (seen > want) {
            return static_cast<double>(static_cast<std::int64_t>(i) * step_ns - offset_ns) / 1e3;
        }
    }
    return 0;
}

delay_line::delay_line(std::vector<netns_queue*> queues, std::int64_t delay_ns,
                       std::int64_t tick_ns, int stop_fd)
    : queues_(std::move(queues)),
      delay_ns_(delay_ns),
      tick_ns_(tick_ns),
      real_minus_mono_ns_(real_minus_mono()),
      clocks_read_ns_(now_ns()),
      epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_.get() < 0) fail("epoll_create1");
    watch(stop_fd, stop_key);
    for (std::size_t i = 0; i < queues_.size(); ++i) watch(queues_[i]->fd(), i);
    for (auto& m : msgs_) m = mmsghdr{};
}

void delay_line::watch(int fd, std::uint64_t key) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
}

void delay_line::run() {
    std::array<epoll_event, 256> events{};
    std::int64_t polled = now_ns();
    for (;;) {
        int timeout_ms = -1;
        if (!fifo_.empty()) {
            sleep_until_next_tick();
            timeout_ms = 0;
        }
        const int n = epoll_wait(epoll_.get(), events.data(), events.size(), timeout_ms);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        const std::int64_t now = now_ns();
        ++counters_.wakeups;
        if (now - clocks_read_ns_ > clock_refresh_ns) {  // follow NTP's slewing of REALTIME
            real_minus_mono_ns_ = real_minus_mono();
            clocks_read_ns_ = now;
        }
        // Where the kernel gave no timestamp: waking from an idle wait, the notice is fresh;
        // after a tick, it came in since the last poll, and the middle of that interval is the
        // unbiased guess.
        const std::int64_t guess = timeout_ms < 0 ? now : polled + (now - polled) / 2;
        if (timeout_ms == 0)
            counters_.poll_gap_max_ns = std::max(counters_.poll_gap_max_ns, now - polled);
        polled = now;
        for (int i = 0; i < n; ++i) {
            const std::uint64_t key = events[static_cast<std::size_t>(i)].data.u64;
            if (key == stop_key) return;
            receive(static_cast<std::uint32_t>(key), guess, now);
        }
        release(now_ns());
    }
}

void delay_line::sleep_until_next_tick() const {
    const std::int64_t at = (now_ns() / tick_ns_ + 1) * tick_ns_;
    timespec ts{};
    ts.tv_sec = at / ns_per_s;
    ts.tv_nsec = at % ns_per_s;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {}
}

/// Takes every waiting notice of one queue, in batches of recvmmsg; each is dropped or held.
void delay_line::receive(std::uint32_t h, std::int64_t guess, std::int64_t now) {
    for (;;) {
        for (std::size_t i = 0; i < recv_batch; ++i) {
            iov_[i] = iovec{bufs_[i].data(), bufs_[i].size()};
            msgs_[i].msg_hdr = msghdr{};
            msgs_[i].msg_hdr.msg_iov = &iov_[i];
            msgs_[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = recvmmsg(queues_[h]->fd(), msgs_.data(), recv_batch, MSG_DONTWAIT, nullptr);
        if (n <= 0) break;
        for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
            on_datagram(h, bufs_[i].data(), msgs_[i].msg_len, guess, now);
        }
        if (static_cast<std::size_t>(n) < recv_batch) break;
    }
    queues_[h]->flush();  // drops only: a batch accept is pending only once something is due
    counters_.held_max = std::max<std::uint64_t>(counters_.held_max, fifo_.size());
}

void delay_line::on_datagram(std::uint32_t h, const char* data, std::size_t len, std::int64_t guess,
                             std::int64_t now) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
    int left = static_cast<int>(len);
    for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
        std::array<nlattr*, NFQA_MAX + 1> attr{};
        if (nfq_nlmsg_parse(nlh, attr.data()) < 0 || attr[NFQA_PACKET_HDR] == nullptr) continue;
        auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(
            mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
        const std::uint32_t id = ntohl(ph->packet_id);
        ++counters_.packets;
        if (queues_[h]->draw_loss()) {
            queues_[h]->drop(id);
        } else {
            fifo_.push_back({arrival(attr[NFQA_TIMESTAMP], guess, now), h, id});
        }
    }
}

/// When the packet arrived: the kernel's receive timestamp where it gave one (it does once some
/// socket asked for timestamps, see main.cpp), else the guess. A stamp in the future or more than
/// a second old is from another clock and not trusted.
std::int64_t delay_line::arrival(const nlattr* stamp, std::int64_t guess, std::int64_t now) {
    if (stamp == nullptr || mnl_attr_get_payload_len(stamp) < sizeof(nfqnl_msg_packet_timestamp)) {
        return guess;
    }
    // Netlink attributes are 4-byte aligned; the struct holds 64-bit fields: copy, don't cast.
    nfqnl_msg_packet_timestamp ts{};
    std::memcpy(&ts, mnl_attr_get_payload(stamp), sizeof ts);
    const std::int64_t at = static_cast<std::int64_t>(be64toh(ts.sec)) * ns_per_s +
                            static_cast<std::int64_t>(be64toh(ts.usec)) * 1000 -
                            real_minus_mono_ns_;
    if (at > now || now - at > ns_per_s) return guess;
    ++counters_.stamped;
    return at;
}

/// Releases everything due by `now` with one batch accept per queue that has any. Due is arrival
/// + delay less half a tick: a packet leaves at the first tick after that, so on average after
/// exactly the delay.
void delay_line::release(std::int64_t now) {
    const std::int64_t hold = delay_ns_ - tick_ns_ / 2;
    while (!fifo_.empty() && fifo_.front().arrived_ns + hold <= now) {
        late_.add(now - fifo_.front().arrived_ns - delay_ns_);
        queues_[fifo_.front().queue]->due(fifo_.front().id);
        fifo_.pop_front();
    }
    for (netns_queue* queue : queues_) queue->flush();
}

}  // namespace delayline
