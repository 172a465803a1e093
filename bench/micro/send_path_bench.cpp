// Serving 16 KiB blocks from a file mapping over one loopback TCP connection, four ways: gathered
// sendmsg of [13-byte header, block] iovecs pointing into the mapping (what the engine does),
// header + sendfile per block, header + splice file->pipe->socket per block, and io_uring
// SENDMSG_ZC of the same iovecs with usage reports (how many notifications said "copied").
// Prints, per way, the median over the repetitions of the sender's and the receiver's thread
// CPU seconds per GiB (user + system; loopback runs much of the receive path in the sender's
// softirq, so the sum is the figure to compare). Ways alternate within each repetition.
// Usage: bench_send_path [REPS] (default 5); the 64 MiB file lives in $TMPDIR (default /tmp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef MINIBIT_BENCH_URING
#include <liburing.h>
#endif

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "loopback_pair.hpp"

namespace {

constexpr std::size_t block_bytes = 16 * 1024;
constexpr std::size_t file_bytes = 64 * 1024 * 1024;
constexpr std::size_t passes = 4;            // 256 MiB per measurement
constexpr std::size_t blocks_per_call = 32;  // 64 iovecs, as the engine's send queue gathers

double thread_cpu() {
    rusage r{};
    ::getrusage(RUSAGE_THREAD, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/// The served file: written once, mapped read-only (as verified pieces are).
struct source {
    int fd = -1;
    const std::byte* base = nullptr;
    source() {
        const char* dir = std::getenv("TMPDIR");
        std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/minibit-send-XXXXXX";
        fd = ::mkstemp(path.data());
        ::unlink(path.c_str());
        std::vector<std::uint8_t> chunk(1 << 20);
        for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<std::uint8_t>(i * 7);
        for (std::size_t at = 0; at < file_bytes; at += chunk.size()) {
            (void)::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(at));
        }
        base = static_cast<const std::byte*>(
            ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0));
    }
    ~source() {
        ::munmap(const_cast<std::byte*>(base), file_bytes);
        ::close(fd);
    }
    source(const source&) = delete;
    source& operator=(const source&) = delete;
};

/// A connected loopback pair; the receiver thread drains it and records its CPU.
struct loopback_pair {
    int tx = -1;
    int rx = -1;
    double rx_cpu = 0;
    std::thread receiver;
    loopback_pair() {
        const auto ends = minibit::bench::open_loopback_pair();
        rx = ends.connected;
        tx = ends.accepted;
        receiver = std::thread([this] {
            std::vector<char> buf(256 * 1024);
            const double c0 = thread_cpu();
            while (::recv(rx, buf.data(), buf.size(), 0) > 0) {}
            rx_cpu = thread_cpu() - c0;
        });
    }
    double finish() {
        ::shutdown(tx, SHUT_WR);
        receiver.join();
        ::close(tx);
        ::close(rx);
        return rx_cpu;
    }
    loopback_pair(const loopback_pair&) = delete;
    loopback_pair& operator=(const loopback_pair&) = delete;
    ~loopback_pair() = default;
};

std::array<std::uint8_t, 13> header{};

/// Sends the whole of `iov` with sendmsg, continuing short writes from the exact byte.
bool send_all(int fd, std::vector<iovec> iov) {
    std::size_t first = 0;
    while (first < iov.size()) {
        msghdr m{};
        m.msg_iov = &iov[first];
        m.msg_iovlen = iov.size() - first;
        ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0) return false;
        while (n > 0) {
            const auto take = std::min<std::size_t>(static_cast<std::size_t>(n),
                                                    iov[first].iov_len);
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
            iov[first].iov_len -= take;
            n -= static_cast<ssize_t>(take);
            if (iov[first].iov_len == 0) ++first;
        }
    }
    return true;
}

std::vector<iovec> gather(const source& src, std::size_t at) {
    std::vector<iovec> iov;
    for (std::size_t b = 0; b < blocks_per_call && at < file_bytes; ++b, at += block_bytes) {
        iov.push_back({header.data(), header.size()});
        iov.push_back({const_cast<std::byte*>(src.base + at), block_bytes});
    }
    return iov;
}

bool way_sendmsg(const source& src, int tx) {
    for (std::size_t at = 0; at < file_bytes; at += blocks_per_call * block_bytes) {
        if (!send_all(tx, gather(src, at))) return false;
    }
    return true;
}

bool way_sendfile(const source& src, int tx) {
    for (std::size_t at = 0; at < file_bytes; at += block_bytes) {
        if (::send(tx, header.data(), header.size(), MSG_MORE | MSG_NOSIGNAL) != 13) return false;
        auto off = static_cast<off_t>(at);
        for (std::size_t left = block_bytes; left > 0;) {
            const ssize_t n = ::sendfile(tx, src.fd, &off, left);
            if (n <= 0) return false;
            left -= static_cast<std::size_t>(n);
        }
    }
    return true;
}

bool way_splice(const source& src, int tx) {
    std::array<int, 2> p{};
    if (::pipe(p.data()) != 0) return false;
    bool ok = true;
    for (std::size_t at = 0; ok && at < file_bytes; at += block_bytes) {
        ok = ::send(tx, header.data(), header.size(), MSG_MORE | MSG_NOSIGNAL) == 13;
        auto off = static_cast<loff_t>(at);
        ssize_t in = ok ? ::splice(src.fd, &off, p[1], nullptr, block_bytes, SPLICE_F_MOVE) : -1;
        ok = in == static_cast<ssize_t>(block_bytes);
        while (ok && in > 0) {
            const ssize_t n = ::splice(p[0], nullptr, tx, nullptr, static_cast<std::size_t>(in),
                                       SPLICE_F_MOVE | SPLICE_F_MORE);
            ok = n > 0;
            in -= n;
        }
    }
    ::close(p[0]);
    ::close(p[1]);
    return ok;
}

#ifdef MINIBIT_BENCH_URING
long zc_copied = 0;  // notifications that reported a copy
long zc_notifs = 0;

/// One SENDMSG_ZC of `iov`; waits for its result and its notification. Returns bytes or -errno.
long send_zc_once(io_uring& ring, int tx, msghdr& m) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_sendmsg_zc(sqe, tx, &m, MSG_NOSIGNAL);
    sqe->ioprio |= 1U << 3;  // IORING_SEND_ZC_REPORT_USAGE (missing from liburing 2.3)
    (void)io_uring_submit(&ring);
    long res = 0;
    bool waiting_notif = false;
    bool got_res = false;
    while (!got_res || waiting_notif) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) return -1;
        if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
            ++zc_notifs;
            zc_copied += (static_cast<unsigned>(cqe->res) & (1U << 31)) != 0 ? 1 : 0;
            waiting_notif = false;
        } else {
            res = cqe->res;
            got_res = true;
            waiting_notif = (cqe->flags & IORING_CQE_F_MORE) != 0;
        }
        io_uring_cqe_seen(&ring, cqe);
    }
    return res;
}

bool way_sendmsg_zc(const source& src, int tx) {
    io_uring ring{};
    if (io_uring_queue_init(8, &ring, 0) != 0) return false;
    bool ok = true;
    for (std::size_t at = 0; ok && at < file_bytes; at += blocks_per_call * block_bytes) {
        std::vector<iovec> iov = gather(src, at);
        std::size_t first = 0;
        while (ok && first < iov.size()) {
            msghdr m{};
            m.msg_iov = &iov[first];
            m.msg_iovlen = iov.size() - first;
            long n = send_zc_once(ring, tx, m);
            ok = n >= 0;
            while (n > 0) {
                const auto take = std::min<std::size_t>(static_cast<std::size_t>(n),
                                                        iov[first].iov_len);
                iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
                iov[first].iov_len -= take;
                n -= static_cast<long>(take);
                if (iov[first].iov_len == 0) ++first;
            }
        }
    }
    io_uring_queue_exit(&ring);
    return ok;
}
#endif

struct way {
    const char* name;
    std::function<bool(const source&, int)> run;
    std::vector<double> tx_cpu;
    std::vector<double> rx_cpu;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    source src;
    std::vector<way> ways = {{"sendmsg into the mapping", way_sendmsg, {}, {}},
                             {"sendfile per block", way_sendfile, {}, {}},
                             {"splice per block", way_splice, {}, {}}};
#ifdef MINIBIT_BENCH_URING
    ways.push_back({"io_uring SENDMSG_ZC", way_sendmsg_zc, {}, {}});
#endif
    const double gib = static_cast<double>(passes * file_bytes) / (1024.0 * 1024 * 1024);
    for (int r = 0; r < reps; ++r) {
        for (auto& w : ways) {
            loopback_pair l;
            const double c0 = thread_cpu();
            for (std::size_t p = 0; p < passes; ++p) {
                if (!w.run(src, l.tx)) {
                    std::fprintf(stderr, "%s failed\n", w.name);
                    return 1;
                }
            }
            w.tx_cpu.push_back((thread_cpu() - c0) / gib);
            w.rx_cpu.push_back(l.finish() / gib);
        }
    }
    std::printf("%-26s %12s %12s %12s   (CPU s per GiB, median of %d)\n", "way", "sender",
                "receiver", "sum", reps);
    for (const auto& w : ways) {
        const double t = median(w.tx_cpu);
        const double rx = median(w.rx_cpu);
        std::printf("%-26s %12.3f %12.3f %12.3f\n", w.name, t, rx, t + rx);
    }
#ifdef MINIBIT_BENCH_URING
    std::printf("SENDMSG_ZC notifications: %ld, reporting a copy: %ld\n", zc_notifs, zc_copied);
#endif
    return 0;
}
