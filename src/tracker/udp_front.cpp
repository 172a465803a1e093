#include "udp_front.hpp"

namespace minibit::tracker {

result<io::address> udp_front::bind(const io::address& addr) {
    auto id = r_.bind_udp(addr, io::reuse_port::yes,
                          [this](std::span<const std::byte> data, const io::address& from) {
                              on_datagram(data, from);
                          });
    if (!id) return std::unexpected(std::move(id.error()));
    socket_ = *id;
    return r_.local_address(*id);
}

void udp_front::shutdown() {
    if (socket_) r_.close_udp(*socket_);
    socket_.reset();
}

void udp_front::on_datagram(std::span<const std::byte> data, const io::address& from) {
    if (!socket_) return;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(r_.now().time_since_epoch());
    service_.handle_udp({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, from,
                        now, reply_);
    if (!reply_.empty()) {
        // A full socket buffer drops the answer, as UDP may; the client retries (BEP 15).
        (void)r_.send_to(*socket_, std::as_bytes(std::span(reply_)), from);
    }
}

}  // namespace minibit::tracker
