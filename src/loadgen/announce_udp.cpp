// The UDP (BEP 15) announce driver: --sockets connected sockets (each its own client address and
// connection id, renewed after 60 s) driven by one thread through epoll, C announces in flight
// over all of them. The announces issued in one loop turn go out by one sendmmsg on one socket
// (the next turn takes the next socket); answers are drained with recvmmsg. Latency runs from
// just before the sendmmsg to just after the recvmmsg that read the answer. Transaction ids are
// (generation << 16 | slot) so an answer finds its slot in O(1) and a late answer to a reused
// slot is ignored.
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "announce_driver.hpp"
#include "minibit/loadgen/announce_workload.hpp"
#include "minibit/wire/tracker_udp.hpp"
#include "udp_socket_set.hpp"

namespace minibit::loadgen {

namespace {

constexpr std::size_t batch = 64;               ///< datagrams per sendmmsg/recvmmsg call
constexpr std::size_t recv_bytes = 4096;        ///< 20 + 6 * 676 peers; larger answers are bad
constexpr std::uint32_t connect_slot = 0xFFFF;  ///< slot bits of a connect's transaction id
constexpr auto wait_limit = std::chrono::milliseconds(2);
constexpr auto timeout_scan_interval = std::chrono::milliseconds(10);
/// BEP 15: a client may use a connection id for one minute after receiving it.
constexpr auto connection_id_max_age = std::chrono::seconds(60);

struct udp_slot {
    bool busy = false;
    std::uint8_t attempts = 0;
    std::uint16_t generation = 0;
    std::uint32_t sock = 0;                 ///< the socket it was sent on (and is resent on)
    announce_clock::time_point due;         ///< when the schedule wanted it sent
    announce_clock::time_point first_sent;  ///< just before the sendmmsg of its first attempt
    announce_clock::time_point last_sent;
    wire::udp_announce_request request;
};

/// One socket's BEP 15 connection state.
struct udp_conn {
    std::uint64_t connection_id = 0;
    bool id_valid = false;
    announce_clock::time_point id_obtained;
    bool connect_pending = false;
    std::uint16_t connect_generation = 0;
    std::uint32_t connect_attempts = 0;
    announce_clock::time_point connect_sent;
};

struct out_packet {
    std::array<std::uint8_t, 128> data{};
    std::size_t len = 0;
    std::uint32_t slot = connect_slot;  ///< the announce slot it carries, or connect_slot
};

class udp_driver {
public:
    udp_driver(const announce_options& o, announce_report& r)
        : options_(o), report_(r), workload_(o), slots_(o.concurrency) {
        for (std::size_t i = slots_.size(); i > 0; --i)
            free_.push_back(static_cast<std::uint32_t>(i - 1));
    }

    result<void> run();

private:
    [[nodiscard]] bool have_id(std::uint32_t sock, announce_clock::time_point now) const {
        const udp_conn& c = conns_[sock];
        return c.id_valid && now - c.id_obtained < connection_id_max_age;
    }
    [[nodiscard]] std::optional<std::uint32_t> pick_socket(announce_clock::time_point now) const;
    void ensure_connection(std::uint32_t sock, announce_clock::time_point now);
    void issue_due(const run_window& w, announce_clock::time_point now);
    void wait_for_answers(announce_clock::time_point now);
    void issue(std::uint32_t slot, std::uint32_t sock, announce_clock::time_point now);
    void stage(std::uint32_t sock, const wire::udp_request& r, std::uint32_t slot);
    void flush();
    void receive(std::uint32_t sock);
    void on_packet(std::uint32_t sock, std::span<const std::uint8_t> packet,
                   announce_clock::time_point now);
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
    udp_socket_set sockets_;
    std::vector<udp_conn> conns_;
    std::uint32_t next_sock_ = 0;  ///< where the next turn's announces go (if it has an id)
    announce_clock::time_point last_done_;
    std::optional<arrival_schedule> arrivals_;  // one-at-a-time arrivals; empty: burst pacing
    std::array<out_packet, batch> staged_{};
    std::size_t staged_count_ = 0;
    std::uint32_t staged_sock_ = 0;
    std::vector<std::uint8_t> encoded_;
    std::vector<std::array<std::uint8_t, recv_bytes>> in_bufs_ =
        std::vector<std::array<std::uint8_t, recv_bytes>>(batch);
};

result<void> udp_driver::run() {
    if (auto ok = sockets_.open(options_.udp_sockets, options_.tracker.ipv4_be,
                                options_.tracker.port);
        !ok)
        return ok;
    conns_.resize(sockets_.size());
    run_window w = run_window::from(options_);
    if (options_.rate > 0 && options_.arrivals != arrival_model::burst) {
        arrivals_.emplace(options_.arrivals, options_.rate, w.start);
        w.rate = 0;  // the schedule paces instead of the window's budget
    }
    // Sleeps end within a microsecond or so of the next arrival, not 50 us late.
    (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    last_done_ = w.start;
    auto last_scan = w.start;
    for (;;) {
        auto now = announce_clock::now();
        if (w.issuing_over(workload_.issued(), now) && in_flight_ == 0) break;
        if (now >= w.end_by) {
            fail_all(announce_error_kind::timeout, {});
            break;
        }
        for (std::uint32_t i = 0; i < conns_.size(); ++i) ensure_connection(i, now);
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

// The next socket, in turn, that has a connection id.
std::optional<std::uint32_t> udp_driver::pick_socket(announce_clock::time_point now) const {
    const auto n = static_cast<std::uint32_t>(conns_.size());
    for (std::uint32_t k = 0; k < n; ++k) {
        const std::uint32_t i = (next_sock_ + k) % n;
        if (have_id(i, now)) return i;
    }
    return std::nullopt;
}

// Burst pacing issues everything the window allows now; a schedule only what is due by now.
// All of one turn's announces go to one socket, so they leave by one sendmmsg.
void udp_driver::issue_due(const run_window& w, announce_clock::time_point now) {
    const auto sock = pick_socket(now);
    if (!sock) return;
    bool issued = false;
    while (!free_.empty() && w.may_issue(workload_.issued(), now) &&
           (!arrivals_ || arrivals_->due(now))) {
        const std::uint32_t slot = free_.back();
        free_.pop_back();
        issue(slot, *sock, now);
        issued = true;
        if (arrivals_) arrivals_->advance();
    }
    if (issued) next_sock_ = (*sock + 1) % static_cast<std::uint32_t>(conns_.size());
}

// Sleeps until answers come, wait_limit passes or (with a schedule) the next announce is due.
void udp_driver::wait_for_answers(announce_clock::time_point now) {
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(wait_limit);
    if (arrivals_ && pick_socket(now) && !free_.empty()) {
        wait = std::clamp(
            std::chrono::duration_cast<std::chrono::nanoseconds>(arrivals_->next() - now),
            std::chrono::nanoseconds(0), wait);
    }
    for (const std::uint32_t sock : sockets_.wait(wait)) receive(sock);
}

void udp_driver::ensure_connection(std::uint32_t sock, announce_clock::time_point now) {
    if (have_id(sock, now)) return;
    udp_conn& c = conns_[sock];
    if (c.connect_pending && now - c.connect_sent < options_.timeout) return;
    if (c.connect_pending && ++c.connect_attempts > options_.udp_retries) {
        report_.error(announce_error_kind::timeout);  // a connect unanswered after its retries
        c.connect_attempts = 0;
    }
    if (!c.connect_pending) c.connect_attempts = 0;
    ++c.connect_generation;
    c.connect_pending = true;
    c.connect_sent = now;
    stage(sock,
          wire::udp_connect_request{(std::uint32_t{c.connect_generation} << 16U) | connect_slot},
          connect_slot);
}

void udp_driver::issue(std::uint32_t slot, std::uint32_t sock, announce_clock::time_point now) {
    udp_slot& s = slots_[slot];
    const planned_announce p = workload_.next();
    ++report_.sent;
    ++in_flight_;
    s.busy = true;
    s.attempts = 1;
    ++s.generation;
    s.sock = sock;
    s.due = arrivals_ ? arrivals_->next() : now;
    s.first_sent = now;  // both set again just before the datagram leaves (flush)
    s.last_sent = now;
    auto& r = s.request;
    r.connection_id = conns_[sock].connection_id;
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
    stage(sock, r, slot);
}

void udp_driver::stage(std::uint32_t sock, const wire::udp_request& r, std::uint32_t slot) {
    if (staged_count_ == batch || (staged_count_ > 0 && staged_sock_ != sock)) flush();
    staged_sock_ = sock;
    encoded_.clear();
    wire::encode_udp(r, encoded_);
    out_packet& o = staged_[staged_count_++];
    o.len = std::min(encoded_.size(), o.data.size());
    o.slot = slot;
    std::memcpy(o.data.data(), encoded_.data(), o.len);
}

void udp_driver::flush() {
    if (staged_count_ == 0) return;
    std::array<mmsghdr, batch> msgs{};
    std::array<iovec, batch> iov{};
    for (std::size_t i = 0; i < staged_count_; ++i) {
        iov[i] = {staged_[i].data.data(), staged_[i].len};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // Send times are taken here, so a late loop turn is not counted as tracker latency; how
    // late the generator was against its schedule is recorded apart (send_lag).
    const auto sent = announce_clock::now();
    for (std::size_t i = 0; i < staged_count_; ++i) {
        if (staged_[i].slot == connect_slot) continue;
        udp_slot& s = slots_[staged_[i].slot];
        if (s.attempts == 1) {
            s.first_sent = sent;
            if (arrivals_) report_.send_lag.add(micros_between(s.due, sent));
        }
        s.last_sent = sent;
    }
    const int fd = sockets_.fd(staged_sock_);
    std::size_t done = 0;
    while (done < staged_count_) {
        const int n = ::sendmmsg(fd, msgs.data() + done,
                                 static_cast<unsigned>(staged_count_ - done), 0);
        if (n <= 0) break;  // EAGAIN or a refused port: the requests time out or fail_all runs
        done += static_cast<std::size_t>(n);
    }
    staged_count_ = 0;
}

void udp_driver::receive(std::uint32_t sock) {
    std::array<mmsghdr, batch> msgs{};
    std::array<iovec, batch> iov{};
    for (std::size_t round = 0; round < 16; ++round) {
        for (std::size_t i = 0; i < batch; ++i) {
            iov[i] = {in_bufs_[i].data(), recv_bytes};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = ::recvmmsg(sockets_.fd(sock), msgs.data(), batch, MSG_DONTWAIT, nullptr);
        const auto now = announce_clock::now();  // the receive time of this batch's answers
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
            on_packet(sock, {in_bufs_[i].data(), msgs[i].msg_len}, now);
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

void udp_driver::on_packet(std::uint32_t sock, std::span<const std::uint8_t> packet,
                           announce_clock::time_point now) {
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
    udp_conn& c = conns_[sock];
    if (const auto* cr = std::get_if<wire::udp_connect_response>(&*r)) {
        if (!c.connect_pending || (cr->transaction_id & 0xFFFFU) != connect_slot) return;
        c.connection_id = cr->connection_id;
        c.id_valid = true;
        c.id_obtained = now;
        c.connect_pending = false;
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
            if (e->message.find("connection") != std::string::npos) c.id_valid = false;
        } else if ((e->transaction_id & 0xFFFFU) == connect_slot && c.connect_pending) {
            report_.error(announce_error_kind::failure, e->message);
            c.connect_pending = false;
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
        s.request.connection_id = conns_[s.sock].connection_id;
        stage(s.sock, s.request, static_cast<std::uint32_t>(&s - slots_.data()));
    }
}

}  // namespace

result<void> run_udp_announces(const announce_options& options, announce_report& report) {
    udp_driver driver(options, report);
    return driver.run();
}

}  // namespace minibit::loadgen
