// One BitTorrent connection on one reactor: handshake both ways (BEP 3, fast extension BEP 6,
// extension protocol BEP 10), choke/interest state, the request pipeline sized to the measured
// rate, request timeouts, serving blocks zero-copy from the piece store, and strict validation
// of everything the peer says: a violation closes this connection only, with a logged reason.
// Talks to its torrent only through peer_host and peer_context (peer_host.hpp). Owned
// (shared_ptr) by its host; reactor thread only (asserted in checked builds).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/io/owner_thread.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/swarm/peer_host.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/swarm/rate_meter.hpp"
#include "minibit/swarm/request_queue.hpp"
#include "minibit/wire/peer_decoder.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// Who opened the connection.
enum class peer_direction { outgoing, incoming };

/// Why a connection closed, for logs and stats.
enum class close_reason { violation, policy, network, shutdown };

/// A live peer connection of a torrent.
class peer_connection : public std::enable_shared_from_this<peer_connection> {
public:
    using clock = io::reactor::clock;

    /// A connection on `conn` (already connected or accepted) in slot `slot` of `host`, which
    /// must outlive it; call start() next.
    peer_connection(peer_host& host, const peer_context& context, io::connection conn,
                    io::address remote, peer_slot slot, peer_direction direction);

    /// Installs the reactor callbacks and sends our handshake, then handles the bytes already
    /// read from the socket by whoever handed the connection over (a router that read the
    /// peer's handshake to find the torrent); empty for a fresh connection.
    void start(std::span<const std::byte> already_received = {});
    /// Closes the connection, logging `why`; the host forgets it once the reactor confirms.
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

    [[nodiscard]] peer_slot slot() const { return who_.slot; }
    [[nodiscard]] const io::address& remote() const { return who_.remote; }
    [[nodiscard]] peer_direction direction() const { return who_.direction; }
    [[nodiscard]] const std::optional<wire::peer_id>& id() const { return who_.id; }
    [[nodiscard]] clock::time_point connected_at() const { return who_.connected_at; }
    /// Handshake done and not closing.
    [[nodiscard]] bool ready() const { return phase_ == phase::open; }
    [[nodiscard]] bool closing() const { return phase_ >= phase::closing; }
    /// The pieces the peer announced.
    [[nodiscard]] const bitfield& has() const { return has_; }
    [[nodiscard]] bool is_seed() const { return has_.size() > 0 && has_.all(); }
    [[nodiscard]] bool am_choking() const { return flags_.am_choking; }
    /// True while the peer chokes us (no blocks come from it).
    [[nodiscard]] bool peer_choking() const { return flags_.peer_choking; }
    [[nodiscard]] bool peer_interested() const { return flags_.peer_interested; }
    [[nodiscard]] bool am_interested() const { return flags_.am_interested; }
    [[nodiscard]] bool snubbed() const { return requests_.snubbed(); }
    [[nodiscard]] double download_rate(clock::time_point now) const {
        return traffic_.down.rate(now);
    }
    [[nodiscard]] double upload_rate(clock::time_point now) const { return traffic_.up.rate(now); }
    /// The connection's round trip: the kernel's TCP estimate, else the smallest block round
    /// trip seen; nullopt while neither is known.
    [[nodiscard]] std::optional<std::chrono::microseconds> round_trip() const;

private:
    /// Where the connection is in its life.
    enum class phase : std::uint8_t {
        handshaking,  ///< ours sent, theirs not accepted yet
        open,         ///< handshake done
        closing,      ///< close asked (by us or the reactor), on_closed not yet run
        gone,         ///< on_closed ran: the host forgot us
    };
    /// The four BEP 3 state flags of a connection.
    struct choke_flags {
        bool am_choking = true;
        bool am_interested = false;
        bool peer_choking = true;
        bool peer_interested = false;
    };
    /// What the handshakes agreed on.
    struct extensions {
        bool fast = false;      ///< BEP 6
        bool extended = false;  ///< BEP 10
    };
    /// Who the peer is.
    struct identity {
        io::address remote;
        peer_slot slot;
        peer_direction direction;
        std::optional<wire::peer_id> id;  ///< set once its handshake was accepted
        clock::time_point connected_at;
    };
    /// Payload rates and when bytes last moved.
    struct traffic {
        rate_meter down;
        rate_meter up;
        clock::time_point last_received;
        clock::time_point last_sent;
    };

    // peer_connection.cpp: lifecycle, sending, our requests, housekeeping.
    void on_closed(const std::optional<error>& err);
    void send(const wire::peer_message& m);
    void flush_out();
    void drop_requests(const std::vector<wire::block_ref>& blocks);
    void expire_requests(clock::time_point now);
    // peer_messages.cpp: the inbound stream, one handler per message type.
    void on_data(std::span<const std::byte> bytes);
    void handle(const wire::peer_message& m);
    void on_message(const wire::handshake& h);
    void on_message(const wire::keep_alive& m);
    void on_message(const wire::choke& m);
    void on_message(const wire::unchoke& m);
    void on_message(const wire::interested& m);
    void on_message(const wire::not_interested& m);
    void on_message(const wire::have& m);
    void on_message(const wire::have_bitfield& m);
    void on_message(const wire::have_all& m);
    void on_message(const wire::have_none& m);
    void on_message(const wire::request& m);
    void on_message(const wire::piece_block& m);
    void on_message(const wire::cancel& m);
    void on_message(const wire::reject_request& m);
    void on_message(const wire::port& m);
    void on_message(const wire::suggest& m);
    void on_message(const wire::allowed_fast& m);
    void on_message(const wire::extended& m);
    void announce_pieces(bitfield bits);
    void send_initial_messages();
    // peer_serving.cpp: the peer's requests, served from the piece store.
    void serve();
    void send_block(const wire::block_ref& block);
    // peer_throttle.cpp: the rate caps (torrent_options::limits).
    [[nodiscard]] bool may_send();
    void count_sent(std::uint32_t bytes);
    void count_received(std::size_t bytes);

    peer_host& host_;
    const peer_context& ctx_;
    io::connection conn_;
    identity who_;
    wire::peer_decoder decoder_;
    bitfield has_;
    request_queue requests_;
    std::vector<std::byte> out_;  ///< messages batched until flush_out()
    traffic traffic_;
    phase phase_ = phase::handshaking;
    extensions ext_;
    choke_flags flags_;
    bool serving_ = false;       ///< guards serve() against re-entry from release callbacks
    bool send_waiting_ = false;  ///< a rate cap stopped serving; a timer resumes it
    bool read_paused_ = false;   ///< a rate cap paused reading; a timer resumes it
    [[no_unique_address]] io::owner_thread owner_;
};

}  // namespace minibit::swarm
