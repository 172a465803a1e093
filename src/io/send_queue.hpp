// The per-connection output queue: owned byte vectors and borrowed spans kept in send order.
// A back end gathers the front of the queue into iovecs for one sendmsg, then consumes what the
// kernel took (short writes continue from the exact byte). Owned by one reactor thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "minibit/io/reactor.hpp"

namespace minibit::io {

/// Most iovecs gathered into one sendmsg (Linux UIO_MAXIOV is 1024; 64 keeps msghdr small).
inline constexpr std::size_t max_send_iovecs = 64;

/// An ordered queue of owned and borrowed byte ranges.
class send_queue {
public:
    /// Appends owned bytes.
    void push(std::vector<std::byte> bytes);
    /// Appends a borrowed span whose `on_released` runs once the kernel is done with it.
    void push_borrowed(std::span<const std::byte> bytes, release_fn on_released);
    /// Fills up to `iov.size()` iovecs from the front; returns how many were filled.
    [[nodiscard]] std::size_t gather(std::span<iovec> iov) const;
    /// Drops `sent` bytes from the front; appends the release callbacks now due to `released`.
    void consume(std::size_t sent, std::vector<release_fn>& released);
    /// Empties the queue; appends every pending release callback to `released`.
    void clear(std::vector<release_fn>& released);
    /// Bytes not yet consumed.
    [[nodiscard]] std::size_t bytes() const { return bytes_; }
    [[nodiscard]] bool empty() const { return segments_.empty(); }

private:
    struct segment {
        std::vector<std::byte> owned;
        std::span<const std::byte> view;  // into `owned`, or the borrowed memory
        release_fn on_released;           // empty for owned bytes
    };
    std::deque<segment> segments_;
    std::size_t front_offset_ = 0;  // bytes of segments_.front() already sent
    std::size_t bytes_ = 0;
};

}  // namespace minibit::io
