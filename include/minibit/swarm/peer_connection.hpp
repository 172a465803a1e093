// One BitTorrent connection on one reactor: handshake both ways (BEP 3, fast extension BEP 6,
// extension protocol BEP 10), choke/interest state, the request pipeline sized to the measured
// rate, request timeouts, serving blocks zero-copy from the piece store, and strict validation
// of everything the peer says: a violation closes this connection only, with a logged reason.
// Owned (shared_ptr) by its torrent; reactor thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/swarm/rate_meter.hpp"
#include "minibit/wire/peer_decoder.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

class torrent;

/// Who opened the connection.
enum class peer_direction { outgoing, incoming };

/// Why a connection closed, for logs and stats.
enum class close_reason { violation, policy, network, shutdown };

/// A live peer connection of a torrent.
class peer_connection : public std::enable_shared_from_this<peer_connection> {
public:
    using clock = io::reactor::clock;

    /// A connection on `conn` (already connected or accepted); call start() next.
    peer_connection(torrent& owner, io::connection conn, io::address remote, peer_slot slot,
                    peer_direction direction);

    /// Installs the reactor callbacks and sends our handshake.
    void start();
    /// Closes the connection, logging `why`; the torrent forgets it once the reactor confirms.
    void close(close_reason kind, std::string_view why);

    /// Announces a newly verified piece.
    void send_have(piece_index piece);
    /// Tells the peer we no longer need a block it may still be sending.
    void send_cancel(const wire::block_ref& block);
    /// Chokes or unchokes the peer (rejecting its queued requests on choke, BEP 6).
    void set_choking(bool choke);
    /// Recomputes our interest in the peer and tells it when it changed.
    void update_interest();
    /// Sends requests until the pipeline is full.
    void fill_requests();
    /// Periodic housekeeping: request timeouts, keep-alives, idle check, serving.
    void on_tick(clock::time_point now);
    /// Drops `block` from our outstanding requests (another peer delivered it first).
    void forget_request(const wire::block_ref& block);

    [[nodiscard]] peer_slot slot() const { return slot_; }
    [[nodiscard]] const io::address& remote() const { return remote_; }
    [[nodiscard]] peer_direction direction() const { return direction_; }
    [[nodiscard]] const std::optional<wire::peer_id>& id() const { return peer_id_; }
    [[nodiscard]] bool ready() const { return handshake_done_ && !closing_; }
    [[nodiscard]] bool closing() const { return closing_; }
    [[nodiscard]] const bitfield& has() const { return has_; }
    [[nodiscard]] bool is_seed() const { return has_.size() > 0 && has_.all(); }
    [[nodiscard]] bool am_choking() const { return am_choking_; }
    [[nodiscard]] bool am_interested() const { return am_interested_; }
    [[nodiscard]] bool peer_choking() const { return peer_choking_; }
    [[nodiscard]] bool peer_interested() const { return peer_interested_; }
    [[nodiscard]] bool snubbed() const { return snubbed_; }
    [[nodiscard]] double download_rate(clock::time_point now) const { return down_.rate(now); }
    [[nodiscard]] double upload_rate(clock::time_point now) const { return up_.rate(now); }
    [[nodiscard]] std::size_t outstanding_requests() const { return outstanding_.size(); }
    [[nodiscard]] clock::time_point connected_at() const { return connected_at_; }
    /// Blocks we asked this peer for and still wait for.
    [[nodiscard]] std::vector<wire::block_ref> outstanding() const;

private:
    struct pending_request {
        wire::block_ref block;
        clock::time_point sent;
    };

    void on_data(std::span<const std::byte> bytes);
    void on_closed(const std::optional<error>& err);
    void handle(const wire::peer_message& m);
    void on_handshake(const wire::handshake& h);
    void on_bitfield(const bitfield& bits);
    void on_have(piece_index piece);
    void on_request(const wire::block_ref& block);
    void on_cancel(const wire::block_ref& block);
    void on_piece(const wire::piece_block& block);
    void on_reject(const wire::block_ref& block);
    void on_peer_choke();
    void on_extended(const wire::extended& ext);
    void send_initial_messages();
    void send(const wire::peer_message& m);
    void flush_out();
    void serve();
    void send_block(const wire::block_ref& block);
    void drop_outstanding(std::vector<pending_request>::iterator it);
    void expire_requests(clock::time_point now);
    [[nodiscard]] bool take_dropped(const wire::block_ref& block);
    [[nodiscard]] std::uint32_t pipeline_target(clock::time_point now) const;
    [[nodiscard]] bool fast() const { return fast_; }

    torrent& owner_;
    io::connection conn_;
    io::address remote_;
    peer_slot slot_;
    peer_direction direction_;
    wire::peer_decoder decoder_;
    std::optional<wire::peer_id> peer_id_;
    bitfield has_;
    std::vector<pending_request> outstanding_;   ///< our requests to the peer, oldest first
    std::deque<wire::block_ref> dropped_;        ///< released requests whose block may still come
    std::deque<wire::block_ref> incoming_;       ///< the peer's requests we have not served yet
    std::vector<std::byte> out_;                 ///< messages batched until flush_out()
    rate_meter down_;
    rate_meter up_;
    clock::time_point last_received_;
    clock::time_point last_sent_;
    clock::time_point last_block_;
    clock::time_point connected_at_;
    std::uint32_t peer_reqq_ = 250;   ///< BEP 10 reqq of the peer (default when absent)
    std::uint32_t requests_while_choked_ = 0;  ///< since our last unchoke
    bool handshake_done_ = false;
    bool pieces_announced_ = false;  ///< a bitfield, have_all, have_none or have arrived
    bool serving_ = false;           ///< guards serve() against re-entry from release callbacks
    bool gone_ = false;              ///< on_closed ran
    bool fast_ = false;
    bool extensions_ = false;
    bool closing_ = false;
    bool am_choking_ = true;
    bool am_interested_ = false;
    bool peer_choking_ = true;
    bool peer_interested_ = false;
    bool snubbed_ = false;
};

}  // namespace minibit::swarm
