// The io_uring back end, set-up: the ring with the best task-run flags the kernel accepts, a
// probe of the ops the reactor needs, the provided-buffer ring for receives, and the factory.
#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "backends.hpp"
#include "uring_reactor.hpp"

namespace minibit::io {
namespace uring {

uring_reactor::~uring_reactor() {
    if (ring_ready_) {
        io_uring_queue_exit(&ring_);  // cancels and reaps whatever is still in flight
    }
    std::free(buf_ring_);
    std::free(buffers_);
}

result<void> uring_reactor::init() {
    if (auto r = setup_ring(); !r) {
        return r;
    }
    if (auto r = check_ops(); !r) {
        return r;
    }
    if (auto r = setup_buffers(); !r) {
        return r;
    }
    arm_wake();
    // IORING_FEAT_MIN_TIMEOUT (1U << 15, kernel 6.12) is newer than liburing 2.3's header.
    constexpr unsigned feat_min_timeout = 1U << 15U;
    batch_wait_ = options_.batch_wait.count() > 0 && options_.batch_wait_events > 1 &&
                  (ring_.features & feat_min_timeout) != 0U;
    if (options_.batch_wait.count() > 0 && !batch_wait_) {
        spdlog::info(
            "io: batched wake-ups need kernel 6.12+ (IORING_FEAT_MIN_TIMEOUT); waking per event");
    }
    spdlog::debug("io: io_uring reactor ready, task-run setup flags {:#x}", setup_flags_);
    return {};
}

result<void> uring_reactor::setup_ring() {
    // Preferred flags first (reactor per thread: SINGLE_ISSUER|DEFER_TASKRUN, kernel 6.1+), then
    // COOP_TASKRUN (5.19+), then none. The CQ is 8x the SQ: multishot ops post many CQEs each.
    constexpr std::array<unsigned, 3> flag_sets = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0U,
    };
    int ret = -EINVAL;
    for (auto i = static_cast<std::size_t>(options_.taskrun); i < flag_sets.size(); ++i) {
        io_uring_params params{};
        params.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
        params.cq_entries = options_.ring_entries * 8;
        ret = io_uring_queue_init_params(options_.ring_entries, &ring_, &params);
        if (ret != -EINVAL) {
            setup_flags_ = flag_sets[i];
            break;
        }
    }
    if (ret < 0) {
        return std::unexpected(errno_error(-ret, "io_uring_queue_init"));
    }
    ring_ready_ = true;
    return {};
}

result<void> uring_reactor::check_ops() {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) {
        return std::unexpected(errno_error(ENOSYS, "io_uring_get_probe_ring"));
    }
    constexpr std::array<int, 7> needed = {
        IORING_OP_ACCEPT,       IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_CONNECT,
        IORING_OP_ASYNC_CANCEL, IORING_OP_READ, IORING_OP_POLL_ADD};
    bool all = true;
    for (const int o : needed) {
        all = all && io_uring_opcode_supported(probe, o) != 0;
    }
    io_uring_free_probe(probe);
    if (!all) {
        return std::unexpected(errno_error(EOPNOTSUPP, "io_uring lacks a needed operation"));
    }
    return {};
}

result<void> uring_reactor::setup_buffers() {
    // liburing 2.3 has no io_uring_setup_buf_ring: allocate page-aligned ring memory ourselves.
    const std::uint32_t count = options_.recv_buffer_count;
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
        return std::unexpected(errno_error(EINVAL, "recv_buffer_count must be a power of two"));
    }
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* ring_mem = nullptr;
    void* buf_mem = nullptr;
    if (::posix_memalign(&ring_mem, page, count * sizeof(io_uring_buf)) != 0 ||
        ::posix_memalign(&buf_mem, page, std::size_t{count} * options_.recv_buffer_size_bytes) !=
            0) {
        std::free(ring_mem);
        return std::unexpected(errno_error(ENOMEM, "provided buffers"));
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
    buffers_ = static_cast<std::byte*>(buf_mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_mem);
    reg.ring_entries = count;
    reg.bgid = buffer_group;
    if (const int ret = io_uring_register_buf_ring(&ring_, &reg, 0); ret < 0) {
        return std::unexpected(errno_error(-ret, "io_uring_register_buf_ring"));
    }
    io_uring_buf_ring_init(buf_ring_);
    provide_buffers(std::clamp<std::uint32_t>(options_.recv_buffers_at_start, 1, count));
    return {};
}

void uring_reactor::provide_buffers(std::uint32_t upto) {
    // Buffers provided_..upto-1 join the ring for the first time; the memory was reserved for
    // all recv_buffer_count at setup and is untouched. Its pages are populated here in one call:
    // the kernel's first write into a missing page would fault instead, 13-25 us a page on this
    // VM against 1-2.5 us populated (docs/BENCHMARKS.md, main-job-profile). Where the kernel
    // lacks MADV_POPULATE_WRITE (before 5.14) the call fails and the pages fault as before.
    if (upto > provided_) {
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        // buffers_ is page-aligned: round the first new buffer's offset down to its page.
        const std::size_t from = (std::size_t{provided_} * options_.recv_buffer_size_bytes) &
                                 ~(page - 1);
        const std::size_t to = std::size_t{upto} * options_.recv_buffer_size_bytes;
        ::madvise(buffers_ + from, to - from, MADV_POPULATE_WRITE);
    }
    const int mask = io_uring_buf_ring_mask(options_.recv_buffer_count);
    int added = 0;
    for (std::uint32_t bid = provided_; bid < upto; ++bid, ++added) {
        io_uring_buf_ring_add(
            buf_ring_, buffers_ + std::size_t{bid} * options_.recv_buffer_size_bytes,
            options_.recv_buffer_size_bytes, static_cast<unsigned short>(bid), mask, added);
    }
    io_uring_buf_ring_advance(buf_ring_, added);
    provided_ = std::max(provided_, upto);
}

}  // namespace uring

result<std::unique_ptr<reactor>> make_uring_reactor(const reactor_options& options) {
    auto r = std::make_unique<uring::uring_reactor>(options);
    if (auto ok = r->init(); !ok) {
        return std::unexpected(ok.error());
    }
    return r;
}

}  // namespace minibit::io
