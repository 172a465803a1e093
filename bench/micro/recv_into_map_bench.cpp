// Receiving a 16 KiB block into the piece mapping: recv() into a receive buffer and one memcpy
// into the mmap'd file (what the engine does: provided-buffer ring, then piece_store write)
// against recv() straight into the mapping (possible only with plain recv on the epoll path).
// One loopback TCP connection; a sender thread streams 16 KiB blocks; the benchmark thread is
// the receiver. Bytes/second of the receiver. A 64 MiB MAP_SHARED file under $TMPDIR, reused
// cyclically (so page faults happen only in the first pass).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "loopback_pair.hpp"

namespace {

constexpr std::size_t block_bytes = 16 * 1024;
constexpr std::size_t map_bytes = 64 * 1024 * 1024;

/// A connected loopback pair with a sender thread writing until stopped.
struct stream {
    int rx = -1;
    int tx = -1;
    std::atomic<bool> stop{false};
    std::thread sender;

    stream() {
        const auto ends = minibit::bench::open_loopback_pair();
        tx = ends.connected;
        rx = ends.accepted;
        sender = std::thread([this] {
            std::vector<char> block(block_bytes, 'x');
            while (!stop.load(std::memory_order_relaxed)) {
                if (::send(tx, block.data(), block.size(), MSG_NOSIGNAL) <= 0) break;
            }
        });
    }
    ~stream() {
        stop = true;
        ::shutdown(rx, SHUT_RDWR);
        ::shutdown(tx, SHUT_RDWR);
        sender.join();
        ::close(rx);
        ::close(tx);
    }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;
};

/// A MAP_SHARED file mapping, allocated up front (as the piece store does).
struct mapping {
    std::byte* base = nullptr;
    mapping() {
        const char* dir = std::getenv("TMPDIR");
        std::string path = std::string(dir != nullptr ? dir : "/tmp") +
                           "/minibit-recv-bench-XXXXXX";
        const int fd = ::mkstemp(path.data());
        ::unlink(path.c_str());
        (void)::posix_fallocate(fd, 0, map_bytes);
        base = static_cast<std::byte*>(
            ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        ::close(fd);
    }
    ~mapping() { ::munmap(base, map_bytes); }
    mapping(const mapping&) = delete;
    mapping& operator=(const mapping&) = delete;
};

bool recv_all(int fd, std::byte* dst, std::size_t n) {
    return ::recv(fd, dst, n, MSG_WAITALL) == static_cast<ssize_t>(n);
}

void bm_recv_then_copy(benchmark::State& state) {
    stream s;
    mapping m;
    std::vector<std::byte> buffer(32 * 1024);  // one provided receive buffer
    std::size_t at = 0;
    for (auto _ : state) {
        if (!recv_all(s.rx, buffer.data(), block_bytes)) {
            state.SkipWithError("recv failed");
            break;
        }
        std::memcpy(m.base + at, buffer.data(), block_bytes);
        at = (at + block_bytes) % map_bytes;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block_bytes));
}
BENCHMARK(bm_recv_then_copy)->UseRealTime();

void bm_recv_into_mapping(benchmark::State& state) {
    stream s;
    mapping m;
    std::size_t at = 0;
    for (auto _ : state) {
        if (!recv_all(s.rx, m.base + at, block_bytes)) {
            state.SkipWithError("recv failed");
            break;
        }
        at = (at + block_bytes) % map_bytes;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * block_bytes));
}
BENCHMARK(bm_recv_into_mapping)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
