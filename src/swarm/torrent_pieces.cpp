// torrent, piece half: handing out blocks from the picker, taking in received blocks,
// verifying completed pieces on the hashing pool, and charging/banning the senders of bad data
// (smart_ban keeps the digests of a failed piece's blocks and judges them once it verifies).
#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "minibit/io/worker_pool.hpp"
#include "minibit/swarm/torrent.hpp"

namespace minibit::swarm {

std::optional<block_address> torrent::to_address(const wire::block_ref& block) const {
    if (block.piece.get() >= info_.piece_count() || block.begin % block_size_bytes != 0) {
        return std::nullopt;
    }
    const block_address a{block.piece, block_index{block.begin / block_size_bytes}};
    if (a.block.get() >= picker_.blocks_in(block.piece) ||
        picker_.block_length(a) != block.length) {
        return std::nullopt;
    }
    return a;
}

wire::block_ref torrent::to_ref(block_address block) const {
    return {block.piece, block.block.get() * block_size_bytes, picker_.block_length(block)};
}

std::vector<wire::block_ref> torrent::next_requests(peer_connection& peer, std::size_t count,
                                                    std::span<const wire::block_ref> avoid) {
    std::vector<wire::block_ref> out;
    if (life_.completed || !life_.running) {
        return out;
    }
    std::vector<block_address> skip;
    for (const wire::block_ref& b : avoid) {
        if (const auto a = to_address(b)) {
            skip.push_back(*a);
        }
    }
    std::sort(skip.begin(), skip.end());
    for (const block_address& a : picker_.request_blocks(peer.slot(), peer.has(), count, rng_,
                                                         zone_rule(peer.slot()), skip)) {
        out.push_back(to_ref(a));
    }
    return out;
}

void torrent::on_request_dropped(peer_connection& peer, const wire::block_ref& block) {
    if (const auto a = to_address(block)) {
        picker_.on_request_dropped(peer.slot(), *a);
    }
}

void torrent::on_serve_failed(peer_connection& peer, const error& e) {
    if (shard_.set && shard_.index != 0) {
        // The store's have bits belong to the first shard's thread: here only this peer goes.
        peer.close(close_reason::policy, "cannot read block: " + e.message());
        return;
    }
    const std::vector<piece_index> gone = store().drop_pieces_not_on_disk();
    for (piece_index p : gone) {
        have_.reset(p);  // what peers are served from (the store's bits are the truth)
    }
    if (gone.empty()) {
        peer.close(close_reason::policy, "cannot read block: " + e.message());
        return;
    }
    if (!life_.completed) {
        // A downloader whose file shrank cannot write there either: stop with the reason (a
        // restart re-verifies and fetches the rest).
        fail(make_error(swarm_errc::storage, e.message() + "; " + std::to_string(gone.size()) +
                                                 " verified pieces lost"));
        return;
    }
    spdlog::error(
        "torrent {}: {}; {} pieces (first {}, last {}) are no longer on disk and are "
        "not served any more",
        info_.name, e.message(), gone.size(), gone.front().get(), gone.back().get());
    // Every peer was told we had them; a reconnect brings them our new bitfield.
    close_all("pieces dropped from disk, reconnect for the new bitfield");
}

void torrent::close_all(std::string_view why) {
    for (auto& p : peers_.snapshot()) {
        p->close(close_reason::policy, why);
    }
}

void torrent::on_block(peer_connection& peer, const wire::block_ref& block,
                       std::span<const std::uint8_t> data) {
    const auto a = to_address(block);
    if (!a) {
        return;
    }
    const block_arrival arrival = picker_.on_block_received(peer.slot(), *a);
    if (!arrival.fresh) {
        ++traffic_.stats.duplicate_blocks;
        return;
    }
    // The picker said fresh: a piece we lack whose blocks this reactor holds the claim for.
    auto written = store().write_unverified(block.piece, block.begin, std::as_bytes(data));
    if (!written) {
        fail(written.error());
        return;
    }
    traffic_.stats.payload_bytes_down += data.size();
    zone_.last_fresh_block = context_.reactor.now();
    if (!traffic_.stats.seconds_to_first_block) {
        traffic_.stats.seconds_to_first_block =
            std::chrono::duration<double>(context_.reactor.now() - life_.started).count();
    }
    ban_.record_sender(block.piece, a->block, picker_.blocks_in(block.piece), peer.slot());
    for (peer_slot other : arrival.cancel) {
        if (auto* p = peers_.find(other)) p->send_cancel(block);
    }
    if (arrival.piece_complete) {
        verify(block.piece);
    }
}

void torrent::verify(piece_index piece) {
    // Off the reactor: a 4 MiB piece costs ~2.5 ms of SHA-1. Every block of the piece is in, so
    // nothing writes it until the result is back (a failed piece is re-requested only then).
    // The verdict is posted through the scope: dropped should the torrent be gone by then.
    options_.hashing->submit([this, home = scope_.share(), store = context_.store, piece] {
        auto check = store->hash_piece(piece);
        home.post([this, piece, check = std::move(check)] { on_hashed(piece, check); });
    });
}

void torrent::on_hashed(piece_index piece, const result<storage::piece_check>& check) {
    if (!check) {
        fail(check.error());
        return;
    }
    commit(*check);
    if (check->matches) {
        piece_finished(piece);
    } else {
        piece_failed(piece);
    }
}

void torrent::commit(const storage::piece_check& check) {
    // The store's have bits, resume digests and write-back belong to the first shard's thread.
    if (!shard_.set || shard_.index == 0) {
        (void)store().commit_check(check);
        return;
    }
    shard_.set->post(0, [check](torrent& home) { (void)home.store().commit_check(check); });
}

void torrent::piece_finished(piece_index piece) {
    picker_.on_piece_passed(piece);
    ++traffic_.stats.pieces_verified;
    const auto digest = [this](piece_index p, block_index b) { return block_digest(p, b); };
    for (peer_slot guilty : ban_.piece_passed(piece, digest)) {
        charge(guilty);
    }
    if (shard_.set && shard_.set->pieces->mark_verified(piece)) {
        tell_other_shards([piece](torrent& other) { other.on_remote_piece(piece); });
    }
    announce_piece(piece);
}

void torrent::announce_piece(piece_index piece) {
    have_.set(piece);
    for (auto& p : peers_.snapshot()) {
        p->send_have(piece);
    }
    if (complete()) {
        finish_download();
    }
}

std::optional<sha1_digest> torrent::block_digest(piece_index piece, block_index block) {
    const wire::block_ref ref = to_ref({piece, block});
    std::vector<std::byte> buf(ref.length);
    if (!store().read_block(piece, ref.begin, buf)) {
        return std::nullopt;
    }
    return sha1(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf.data()),
                                              buf.size()));
}

void torrent::piece_failed(piece_index piece) {
    ++traffic_.stats.hash_failures;
    picker_.on_piece_failed(piece);
    const auto digest = [this](piece_index p, block_index b) { return block_digest(p, b); };
    const auto senders = ban_.piece_failed(piece, digest);
    spdlog::warn("torrent {}: piece {} failed its hash check ({} peers sent blocks)", info_.name,
                 piece.get(), senders.size());
    // A piece with one sender proves that sender wrong; otherwise wait for the smart ban.
    if (senders.size() == 1) {
        charge(senders.front().slot);
        return;
    }
    // Several senders: the next download goes to the one that sent the fewest blocks, alone.
    // It passes (the smart ban then judges the recorded blocks) or fails with one sender. Left
    // to the first asker, a fast liar that REJECTs one block of every piece wins every retry
    // and the piece fails forever.
    const smart_ban::sender_count* solo = nullptr;
    for (const auto& s : senders) {
        if ((solo == nullptr || s.blocks < solo->blocks) && peers_.find(s.slot) != nullptr) {
            solo = &s;
        }
    }
    if (solo != nullptr) {
        picker_.reserve(piece, solo->slot);
        peers_.find(solo->slot)->fill_requests();
    }
}

void torrent::charge(peer_slot slot) {
    const bool ban_now = ban_.charge(slot);
    spdlog::warn("peer {}: sent bad data ({} of {} strikes)", peers_.record(slot).addr.to_string(),
                 ban_.strikes(slot), ban_.strikes_to_ban());
    if (ban_now) {
        ban(slot);
    }
}

void torrent::ban(peer_slot slot) {
    const slot_record& rec = peers_.record(slot);
    if (ban_.ban(rec.addr.to_string(), rec.id)) {
        ++traffic_.stats.peers_banned;
        if (shard_.set) {
            tell_other_shards([addr = rec.addr.to_string(), id = rec.id](torrent& other) {
                other.on_remote_ban(addr, id);
            });
        }
    }
    if (auto* p = peers_.find(slot)) {
        p->close(close_reason::policy, "banned for sending bad data");
    }
}

void torrent::finish_download() {
    if (life_.completed) {
        return;
    }
    life_.completed = true;
    traffic_.stats.seconds_to_complete =
        std::chrono::duration<double>(context_.reactor.now() - life_.started).count();
    spdlog::info("torrent {}: download complete in {:.3f} s", info_.name,
                 *traffic_.stats.seconds_to_complete);
    if (shard_.set && shard_.index != 0) {
        // nothing to save here: the first shard owns the resume file
    } else if (auto saved = store().save_resume(); !saved) {
        spdlog::warn("torrent {}: cannot save resume data: {}", info_.name,
                     saved.error().message());
    }
    for (auto& p : peers_.snapshot()) {
        if (p->is_seed()) {
            p->close(close_reason::policy, "both sides are seeds");
        } else {
            p->update_interest();
        }
    }
    fill_slots();  // seeding now: slots held by seeds or the uninterested go to waiting peers
    if (life_.on_complete) {
        life_.on_complete();
    }
}

}  // namespace minibit::swarm
