// The UDP (BEP 15) announce driver: one connected socket, C announces in flight, sends batched
// with sendmmsg once per loop turn and answers drained with recvmmsg. Transaction ids are
// (generation << 16 | slot) so an answer finds its slot in O(1) and a late answer to a reused
// slot is ignored. One connection id serves every simulated peer (ids are per client address).
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "announce_driver.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/wire/tracker_udp.hpp"

namespace minibit::loadgen {

namespace {

constexpr std::size_t batch = 64;               ///< datagrams per sendmmsg/recvmmsg call
constexpr std::size_t recv_bytes = 4096;        ///< 20 + 6 * 676 peers; larger answers are bad
constexpr std::uint32_t connect_slot = 0xFFFF;  ///< slot bits of a connect's transaction id
constexpr int socket_buffer_bytes = 4 << 20;
constexpr int wait_ms = 2;
constexpr auto timeout_scan_interval = std::chrono::milliseconds(10);
/// BEP 15: a client may use a connection id for one minute after receiving it.
constexpr auto connection_id_max_age = std::chrono::seconds(60);

struct udp_slot {
    bool busy = false;
    std::uint8_t attempts = 0;
    std::uint16_t generation = 0;
    announce_clock::time_point first_sent;
    announce_clock::time_point last_sent;
    wire::udp_announce_request request;
};

struct out_packet {
    std::array<std::uint8_t, 128> data{};
    std::size_t len = 0;
};

class udp_driver {
public:
    udp_driver(const announce_options& o, announce_report& r)
        : options_(o), report_(r), workload_(o), slots_(o.concurrency) {
        for (std::size_t i = slots_.size(); i > 0; --i)
            free_.push_back(static_cast<std::uint32_t>(i - 1));
    }
    udp_driver(const udp_driver&) = delete;
    udp_driver& operator=(const udp_driver&) = delete;
    ~udp_driver() {
        if (fd_ >= 0) ::close(fd_);
    }

    result<void> run();

private:
    [[nodiscard]] result<void> open_socket();
    [[nodiscard]] bool have_id(announce_clock::time_point now) const {
        return id_valid_ && now - id_obtained_ < connection_id_max_age;
    }
    void ensure_connection(announce_clock::time_point now);
    void issue_due(const run_window& w, announce_clock::time_point now);
    void wait_for_answers(announce_clock::time_point now);
    void issue(std::uint32_t slot, announce_clock::time_point now);
    void stage(const wire::udp_request& r);
    void flush();
    void receive(announce_clock::time_point now);
    void on_packet(std::span<const std::uint8_t> packet, announce_clock::time_point now);
    udp_slot* slot_of(std::uint32_t tid);
    void finish(udp_slot& s);
    void fail_all(announce_error_kind kind, std::string_view reason);
    void check_timeouts(announce_clock::time_point now);

    const announce_options& options_;
    announce_report& report_;
    announce_workload workload_;
    std::vector<udp_slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t in_flight_ = 0;
    int fd_ = -1;
    std::uint64_t connection_id_ = 0;
    bool id_valid_ = false;
    announce_clock::time_point id_obtained_;
    bool connect_pending_ = false;
    std::uint16_t connect_generation_ = 0;
    std::uint32_t connect_attempts_ = 0;
    announce_clock::time_point connect_sent_;
    announce_clock::time_point last_done_;
    std::optional<arrival_schedule> arrivals_;  // one-at-a-time arrivals; empty: burst pacing
    std::array<out_packet, batch> staged_{};
    std::size_t staged_count_ = 0;
    std::vector<std::uint8_t> encoded_;
    std::vector<std::array<std::uint8_t, recv_bytes>> in_bufs_ =
        std::vector<std::array<std::uint8_t, recv_bytes>>(batch);
};

result<void> udp_driver::open_socket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fail(announce_errc::io, std::string("socket: ") + std::strerror(errno));
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &socket_buffer_bytes, sizeof socket_buffer_bytes);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &socket_buffer_bytes, sizeof socket_buffer_bytes);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(options_.tracker.port);
    sa.sin_addr.s_addr = options_.tracker.ipv4_be;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0)
        return fail(announce_errc::io, std::string("connect: ") + std::strerror(errno));
    return {};
}

result<void> udp_driver::run() {
    if (auto ok = open_socket(); !ok) return ok;
    run_window w = run_window::from(options_);
    if (options_.rate > 0 && options_.arrivals != arrival_model::burst) {
        arrivals_.emplace(options_.arrivals, options_.rate, w.start);
        w.rate = 0;  // the schedule paces instead of the window's budget
        // Sleeps end within a microsecond or so of the next arrival, not 50 us late.
        (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    }
    last_done_ = w.start;
    auto last_scan = w.start;
    for (;;) {
        auto now = announce_clock::now();
        if (w.issuing_over(workload_.issued(), now) && in_flight_ == 0) break;
        if (now >= w.end_by) {
            fail_all(announce_error_kind::timeout, {});
            break;
        }
        ensure_connection(now);
        issue_due(w, now);
        flush();
        wait_for_answers(announce_clock::now());
        now = announce_clock::now();
        if (now - last_scan >= timeout_scan_interval) {
            check_timeouts(now);
            last_scan = now;
        }
        flush();
    }
    report_.ended_by = options_.count != 0 && workload_.issued() >= options_.count ? "count"
                                                                                   : "duration";
    report_.seconds = static_cast<double>(micros_between(w.start, last_done_)) / 1e6;
    return {};
}

// Burst pacing issues everything the window allows now; a schedule only what is due by now.
void udp_driver::issue_due(const run_window& w, announce_clock::time_point now) {
    while (have_id(now) && !free_.empty() && w.may_issue(workload_.issued(), now) &&
           (!arrivals_ || arrivals_->due(now))) {
        const std::uint32_t slot = free_.back();
        free_.pop_back();
        issue(slot, now);
        if (arrivals_) arrivals_->advance();
    }
}

// Sleeps until answers come, wait_ms passes or (with a schedule) the next announce is due.
void udp_driver::wait_for_answers(announce_clock::time_point now) {
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::milliseconds(wait_ms));
    if (arrivals_ && have_id(now) && !free_.empty()) {
        wait = std::clamp(
            std::chrono::duration_cast<std::chrono::nanoseconds>(arrivals_->next() - now),
            std::chrono::nanoseconds(0), wait);
    }
    const timespec ts{static_cast<time_t>(wait.count() / 1000000000),
                      static_cast<long>(wait.count() % 1000000000)};
    pollfd p{fd_, POLLIN, 0};
    if (::ppoll(&p, 1, &ts, nullptr) > 0) receive(announce_clock::now());
}

void udp_driver::ensure_connection(announce_clock::time_point now) {
    if (have_id(now)) return;
    if (connect_pending_ && now - connect_sent_ < options_.timeout) return;
    if (connect_pending_ && ++connect_attempts_ > options_.udp_retries) {
        report_.error(announce_error_kind::timeout);  // a connect unanswered after its retries
        connect_attempts_ = 0;
    }
    if (!connect_pending_) connect_attempts_ = 0;
    ++connect_generation_;
    connect_pending_ = true;
    connect_sent_ = now;
    stage(wire::udp_connect_request{(std::uint32_t{connect_generation_} << 16U) | connect_slot});
}

void udp_driver::issue(std::uint32_t slot, announce_clock::time_point now) {
    udp_slot& s = slots_[slot];
    const planned_announce p = workload_.next();
    ++report_.sent;
    ++in_flight_;
    s.busy = true;
    s.attempts = 1;
    ++s.generation;
    s.first_sent = now;
    s.last_sent = now;
    auto& r = s.request;
    r.connection_id = connection_id_;
    r.transaction_id = (std::uint32_t{s.generation} << 16U) | slot;
    r.hash = p.request.hash;
    r.peer_id = p.request.peer_id;
    r.downloaded = p.request.downloaded;
    r.left = p.request.left;
    r.uploaded = p.request.uploaded;
    r.event = p.request.event;
    r.key = p.peer;
    r.num_want = static_cast<std::int32_t>(p.request.numwant.value_or(50));
    r.port = p.request.port;
    stage(r);
}

void udp_driver::stage(const wire::udp_request& r) {
    if (staged_count_ == batch) flush();
    encoded_.clear();
    wire::encode_udp(r, encoded_);
    out_packet& o = staged_[staged_count_++];
    o.len = std::min(encoded_.size(), o.data.size());
    std::memcpy(o.data.data(), encoded_.data(), o.len);
}

void udp_driver::flush() {
    std::array<mmsghdr, batch> msgs{};
    std::array<iovec, batch> iov{};
    for (std::size_t i = 0; i < staged_count_; ++i) {
        iov[i] = {staged_[i].data.data(), staged_[i].len};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    std::size_t done = 0;
    while (done < staged_count_) {
        const int n = ::sendmmsg(fd_, msgs.data() + done,
                                 static_cast<unsigned>(staged_count_ - done), 0);
        if (n <= 0) break;  // EAGAIN or a refused port: the requests time out or fail_all runs
        done += static_cast<std::size_t>(n);
    }
    staged_count_ = 0;
}

void udp_driver::receive(announce_clock::time_point now) {
    std::array<mmsghdr, batch> msgs{};
    std::array<iovec, batch> iov{};
    for (std::size_t round = 0; round < 16; ++round) {
        for (std::size_t i = 0; i < batch; ++i) {
            iov[i] = {in_bufs_[i].data(), recv_bytes};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = ::recvmmsg(fd_, msgs.data(), batch, MSG_DONTWAIT, nullptr);
        if (n < 0 && errno == ECONNREFUSED) {
            // Nothing listens: every announce in flight is lost; an unanswered connect is
            // counted here once and retried after the timeout.
            if (in_flight_ == 0) report_.error(announce_error_kind::connection_error, "refused");
            fail_all(announce_error_kind::connection_error, "refused");
            return;
        }
        if (n <= 0) return;
        for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
            if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;  // times out: counted
            on_packet({in_bufs_[i].data(), msgs[i].msg_len}, now);
        }
        if (static_cast<std::size_t>(n) < batch) return;
    }
}

udp_slot* udp_driver::slot_of(std::uint32_t tid) {
    const std::uint32_t slot = tid & 0xFFFFU;
    if (slot >= slots_.size()) return nullptr;
    udp_slot& s = slots_[slot];
    if (!s.busy || s.request.transaction_id != tid) return nullptr;
    return &s;
}

void udp_driver::on_packet(std::span<const std::uint8_t> packet, announce_clock::time_point now) {
    auto r = wire::parse_udp_response(packet, wire::udp_peer_family::ipv4);
    if (!r) {
        const auto tid = packet.size() >= 8 ? (std::uint32_t{packet[4]} << 24U) |
                                                  (std::uint32_t{packet[5]} << 16U) |
                                                  (std::uint32_t{packet[6]} << 8U) | packet[7]
                                            : 0U;
        if (udp_slot* s = slot_of(tid)) {
            report_.error(announce_error_kind::bad_response);
            finish(*s);
        }
        return;
    }
    if (const auto* c = std::get_if<wire::udp_connect_response>(&*r)) {
        if (!connect_pending_ || (c->transaction_id & 0xFFFFU) != connect_slot) return;
        connection_id_ = c->connection_id;
        id_valid_ = true;
        id_obtained_ = now;
        connect_pending_ = false;
        ++report_.connects;
    } else if (const auto* a = std::get_if<wire::udp_announce_response>(&*r)) {
        if (udp_slot* s = slot_of(a->transaction_id)) {
            report_.ok(s->request.event, micros_between(s->first_sent, now), a->peers.size() / 6);
            finish(*s);
        }
    } else if (const auto* e = std::get_if<wire::udp_error_response>(&*r)) {
        if (udp_slot* s = slot_of(e->transaction_id)) {
            report_.error(announce_error_kind::failure, e->message);
            finish(*s);
            if (e->message.find("connection") != std::string::npos) id_valid_ = false;
        } else if ((e->transaction_id & 0xFFFFU) == connect_slot && connect_pending_) {
            report_.error(announce_error_kind::failure, e->message);
            connect_pending_ = false;
        }
    }
}

void udp_driver::finish(udp_slot& s) {
    s.busy = false;
    --in_flight_;
    last_done_ = announce_clock::now();
    free_.push_back(static_cast<std::uint32_t>(&s - slots_.data()));
}

void udp_driver::fail_all(announce_error_kind kind, std::string_view reason) {
    for (auto& s : slots_) {
        if (!s.busy) continue;
        report_.error(kind, reason);
        finish(s);
    }
}

void udp_driver::check_timeouts(announce_clock::time_point now) {
    for (auto& s : slots_) {
        if (!s.busy || now - s.last_sent < options_.timeout) continue;
        if (s.attempts > options_.udp_retries) {
            report_.error(announce_error_kind::timeout);
            finish(s);
            continue;
        }
        ++s.attempts;
        ++report_.retransmits;
        s.last_sent = now;
        s.request.connection_id = connection_id_;
        stage(s.request);
    }
}

}  // namespace

result<void> run_udp_announces(const announce_options& options, announce_report& report) {
    udp_driver driver(options, report);
    return driver.run();
}

}  // namespace minibit::loadgen
