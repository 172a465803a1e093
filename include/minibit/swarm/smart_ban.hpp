// The bookkeeping behind banning peers that send bad data (a "smart ban", as libtorrent's): who
// sent each block of the pieces in progress, the digest of every block of a failed piece with
// its sender, strikes per connection slot, and the banned peer ids and addresses. When a failed
// piece later verifies, each kept block is compared with the good data and only the senders of
// blocks that differ are charged. Owned by one torrent; one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "minibit/core/sha1.hpp"
#include "minibit/core/units.hpp"
#include "minibit/swarm/piece_picker.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// Senders, suspects, strikes and bans of one torrent.
class smart_ban {
public:
    /// The digest of a block as stored now (nullopt when it cannot be read).
    using digest_fn = std::function<std::optional<sha1_digest>(piece_index, block_index)>;

    /// A distinct sender of a failed piece and how many of its blocks it sent.
    struct sender_count {
        peer_slot slot;
        std::uint32_t blocks = 0;
        bool operator==(const sender_count&) const = default;
    };

    /// Bookkeeping that bans a slot's peer at its `strikes_to_ban`th strike.
    explicit smart_ban(std::uint32_t strikes_to_ban) : strikes_to_ban_(strikes_to_ban) {}

    /// Block b of piece p (one of `blocks_in_piece`) came from `from`.
    void record_sender(piece_index p, block_index b, std::uint32_t blocks_in_piece, peer_slot from);
    /// Piece p was given up (its blocks are dropped): its senders are forgotten.
    void forget_senders(piece_index p) { senders_.erase(p); }
    /// Piece p failed its hash check: its senders are taken out and the digest of every block
    /// they sent is kept as a suspect. Returns the distinct senders in block order.
    [[nodiscard]] std::vector<sender_count> piece_failed(piece_index p, const digest_fn& digest);
    /// Piece p verified: its senders are forgotten, and the senders of kept blocks that differ
    /// from the good data now are returned, each once.
    [[nodiscard]] std::vector<peer_slot> piece_passed(piece_index p, const digest_fn& digest);

    /// One strike for `slot`; true when it reached the ban threshold.
    [[nodiscard]] bool charge(peer_slot slot);
    /// Strikes of `slot` so far.
    [[nodiscard]] std::uint32_t strikes(peer_slot slot) const;
    [[nodiscard]] std::uint32_t strikes_to_ban() const { return strikes_to_ban_; }

    /// Bans an address and, when known, a peer id; true when either was not banned yet.
    bool ban(const std::string& addr, const std::optional<wire::peer_id>& id);
    [[nodiscard]] bool banned(const wire::peer_id& id) const { return banned_ids_.contains(id); }
    [[nodiscard]] bool banned(const std::string& addr) const {
        return banned_addrs_.contains(addr);
    }

    /// Aborts (MINIBIT_ASSERT) when a kept list is empty or a strike count is zero.
    void check_invariants() const;

private:
    /// A block of a failed piece: who sent it and the digest of what they sent.
    struct suspect_block {
        block_index block;
        peer_slot sender;
        sha1_digest digest;
    };

    std::uint32_t strikes_to_ban_;
    std::map<piece_index, std::vector<std::optional<peer_slot>>> senders_;  ///< per block
    std::map<piece_index, std::vector<suspect_block>> suspects_;
    std::map<peer_slot, std::uint32_t> strikes_;
    std::set<wire::peer_id> banned_ids_;
    std::set<std::string> banned_addrs_;
};

}  // namespace minibit::swarm
