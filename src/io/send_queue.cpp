#include "send_queue.hpp"

#include <utility>

namespace minibit::io {

void send_queue::push(std::vector<std::byte> bytes) {
    if (bytes.empty()) {
        return;
    }
    bytes_ += bytes.size();
    segment seg;
    seg.owned = std::move(bytes);
    seg.view = std::span<const std::byte>(seg.owned);
    // Moving a vector keeps its heap buffer, so the span stays valid inside the deque.
    segments_.push_back(std::move(seg));
}

void send_queue::push_borrowed(std::span<const std::byte> bytes, release_fn on_released) {
    bytes_ += bytes.size();
    segment seg;
    seg.view = bytes;
    seg.on_released = std::move(on_released);
    segments_.push_back(std::move(seg));
}

std::size_t send_queue::gather(std::span<iovec> iov) const {
    std::size_t n = 0;
    std::size_t skip = front_offset_;
    for (const auto& seg : segments_) {
        if (n == iov.size()) {
            break;
        }
        if (seg.view.size() == skip) {  // an empty borrowed span
            skip = 0;
            continue;
        }
        // iovec wants a non-const pointer; sendmsg never writes through it.
        iov[n].iov_base = const_cast<std::byte*>(seg.view.data() + skip);
        iov[n].iov_len = seg.view.size() - skip;
        ++n;
        skip = 0;
    }
    return n;
}

void send_queue::consume(std::size_t sent, std::vector<release_fn>& released) {
    bytes_ -= sent;
    while (!segments_.empty()) {
        auto& front = segments_.front();
        const std::size_t left = front.view.size() - front_offset_;
        if (sent < left) {
            front_offset_ += sent;
            return;
        }
        sent -= left;
        if (front.on_released) {
            released.push_back(std::move(front.on_released));
        }
        segments_.pop_front();
        front_offset_ = 0;
    }
}

void send_queue::clear(std::vector<release_fn>& released) {
    for (auto& seg : segments_) {
        if (seg.on_released) {
            released.push_back(std::move(seg.on_released));
        }
    }
    segments_.clear();
    front_offset_ = 0;
    bytes_ = 0;
}

}  // namespace minibit::io
