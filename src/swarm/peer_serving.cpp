// peer_connection, serving half: the peer's queued requests answered from the piece store, a
// 13-byte header of our own followed by the block borrowed from the store's mapping (zero copy;
// the pread back end copies into an owned buffer instead), paced by the reactor's send queue.
#include <array>

#include "minibit/swarm/peer_connection.hpp"

namespace minibit::swarm {

void peer_connection::serve() {
    if (serving_ || closing()) {
        return;
    }
    serving_ = true;
    while (!requests_.incoming_empty() && !flags_.am_choking && !closing()) {
        auto queued = ctx_.reactor.bytes_queued(conn_.id());
        if (!queued || *queued + out_.size() >= ctx_.options.max_send_queue_bytes) {
            break;
        }
        if (!may_send()) {
            break;
        }
        const auto block = *requests_.next_incoming();
        count_sent(block.length);
        send_block(block);
    }
    serving_ = false;
}

void peer_connection::send_block(const wire::block_ref& block) {
    std::array<std::uint8_t, wire::piece_header_bytes> header{};
    if (!wire::encode_piece_header(block, header)) {
        return;
    }
    const std::size_t at = out_.size();
    const auto* hb = reinterpret_cast<const std::byte*>(header.data());
    out_.insert(out_.end(), hb, hb + header.size());
    storage::piece_store& store = *ctx_.store;
    auto spans = store.block_spans(block.piece, block.begin, block.length);
    if (!spans && !is(spans.error(), storage::storage_errc::fault)) {
        // pread back end: copy the block into an owned buffer instead.
        out_.resize(at + header.size() + block.length);
        auto read = store.read_block(block.piece, block.begin,
                                     {out_.data() + at + header.size(), block.length});
        if (!read) {
            spans = std::unexpected(std::move(read.error()));
        }
    }
    if (!spans && !is(spans.error(), storage::storage_errc::unsupported)) {
        // The data is gone from disk (file truncated) or unreadable: not a byte of this
        // message may go out, and the host decides what we still serve.
        out_.resize(at);
        host_.on_serve_failed(*this, spans.error());
        return;
    }
    auto& stats = ctx_.counters;
    ++stats.messages_sent[static_cast<std::size_t>(wire::message_id::piece)];
    stats.payload_bytes_up += block.length;
    const auto now = ctx_.reactor.now();
    traffic_.up.add(block.length, now);
    ctx_.up.add(block.length, now);
    flush_out();
    if (!spans) {
        host_.on_served(*this, block);  // the copy went out whole with its header
        return;
    }
    stats.wire_bytes_up += block.length;
    std::weak_ptr<peer_connection> weak = weak_from_this();
    const auto parts = spans->view();
    for (std::size_t i = 0; i < parts.size() && !closing(); ++i) {
        // Each callback keeps the store (and so the mapping) alive until the kernel let go.
        io::release_fn done = [keep = ctx_.store](const std::optional<error>&) {};
        if (i + 1 == parts.size()) {
            done = [weak, keep = ctx_.store](const std::optional<error>&) {
                if (auto self = weak.lock()) {
                    self->serve();
                    self->flush_out();
                }
            };
        }
        if (auto sent = ctx_.reactor.send_borrowed(conn_.id(), parts[i], std::move(done)); !sent) {
            close(close_reason::network, sent.error().message());
        }
    }
    if (!closing()) {
        host_.on_served(*this, block);  // after its bytes: the host may send messages
    }
}

}  // namespace minibit::swarm
