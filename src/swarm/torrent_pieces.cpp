// torrent, piece half: handing out blocks from the picker, taking in received blocks,
// verifying completed pieces, and charging/banning the senders of bad data (smart ban: the
// digest of each block of a failed piece is kept and compared once the piece verifies).
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

std::vector<wire::block_ref> torrent::request_blocks(peer_connection& peer, std::size_t count) {
    std::vector<wire::block_ref> out;
    if (completed_ || !running_) {
        return out;
    }
    for (const block_address& a : picker_.request_blocks(peer.slot(), peer.has(), count, rng_)) {
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
    if (shards_ && shard_ != 0) {
        // The store's have bits belong to the first shard's thread: here only this peer goes.
        peer.close(close_reason::policy, "cannot read block: " + e.message());
        return;
    }
    const std::vector<piece_index> gone = store_->drop_pieces_not_on_disk();
    for (piece_index p : gone) {
        have_.reset(p);  // what peers are served from (the store's bits are the truth)
    }
    if (gone.empty()) {
        peer.close(close_reason::policy, "cannot read block: " + e.message());
        return;
    }
    if (!completed_) {
        // A downloader whose file shrank cannot write there either: stop with the reason (a
        // restart re-verifies and fetches the rest).
        fail(make_error(swarm_errc::storage, e.message() + "; " + std::to_string(gone.size()) +
                                                 " verified pieces lost"));
        return;
    }
    spdlog::error("torrent {}: {}; {} pieces (first {}, last {}) are no longer on disk and are "
                  "not served any more",
                  info_.name, e.message(), gone.size(), gone.front().get(), gone.back().get());
    // Every peer was told we had them; a reconnect brings them our new bitfield.
    std::vector<std::shared_ptr<peer_connection>> live;
    for (auto& [slot, p] : peers_) {
        live.push_back(p);
    }
    for (auto& p : live) {
        p->close(close_reason::policy, "pieces dropped from disk, reconnect for the new bitfield");
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
        ++stats_.duplicate_blocks;
        return;
    }
    // The picker said fresh: a piece we lack whose blocks this reactor holds the claim for.
    auto written = store_->write_unverified(block.piece, block.begin, std::as_bytes(data));
    if (!written) {
        fail(written.error());
        return;
    }
    stats_.payload_bytes_down += data.size();
    auto& senders = senders_[block.piece.get()];
    senders.resize(picker_.blocks_in(block.piece));
    senders[a->block.get()] = peer.slot();
    for (peer_slot other : arrival.cancel) {
        if (auto* p = find_peer(other)) p->send_cancel(block);
    }
    if (arrival.piece_complete) {
        verify(block.piece);
    }
}

void torrent::verify(piece_index piece) {
    // Off the reactor: a 4 MiB piece costs ~2.5 ms of SHA-1. Every block of the piece is in, so
    // nothing writes it until the result is back (a failed piece is re-requested only then).
    std::weak_ptr<int> alive = alive_;
    io::reactor* home = &reactor_;
    std::shared_ptr<const storage::piece_store> store = store_;
    auto counter = hashing_;
    counter->fetch_add(1);
    io::worker_pool::shared().submit([this, alive, home, store, counter, piece] {
        auto check = store->hash_piece(piece);
        home->post([this, alive, piece, check = std::move(check)] {
            if (alive.lock()) on_hashed(piece, check);
        });
        if (counter->fetch_sub(1) == 1) {
            counter->notify_all();
        }
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
    if (!shards_ || shard_ == 0) {
        (void)store_->commit_check(check);
        return;
    }
    shards_->post(0, [check](torrent& home) { (void)home.store_->commit_check(check); });
}

void torrent::piece_finished(piece_index piece) {
    picker_.on_piece_passed(piece);
    ++stats_.pieces_verified;
    judge_suspects(piece);
    senders_.erase(piece.get());
    if (shards_ && shards_->pieces->mark_verified(piece)) {
        for (std::uint32_t k = 0; k < shards_->members.size(); ++k) {
            if (k != shard_) {
                shards_->post(k, [piece](torrent& other) { other.on_remote_piece(piece); });
            }
        }
    }
    announce_piece(piece);
}

void torrent::announce_piece(piece_index piece) {
    have_.set(piece);
    std::vector<std::shared_ptr<peer_connection>> live;
    for (auto& [slot, p] : peers_) {
        live.push_back(p);
    }
    for (auto& p : live) {
        p->send_have(piece);
    }
    if (complete()) {
        finish_download();
    }
}

std::optional<sha1_digest> torrent::block_digest(piece_index piece, std::uint32_t block) {
    const wire::block_ref ref = to_ref({piece, block_index{block}});
    std::vector<std::byte> buf(ref.length);
    if (!store_->read_block(piece, ref.begin, buf)) {
        return std::nullopt;
    }
    return sha1(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf.data()),
                                              buf.size()));
}

void torrent::piece_failed(piece_index piece) {
    ++stats_.hash_failures;
    picker_.on_piece_failed(piece);
    auto& suspects = suspects_[piece.get()];
    const auto senders = std::move(senders_[piece.get()]);
    senders_.erase(piece.get());
    std::vector<peer_slot> involved;
    for (std::uint32_t i = 0; i < senders.size(); ++i) {
        if (!senders[i]) {
            continue;
        }
        if (const auto digest = block_digest(piece, i)) {
            suspects.push_back({i, *senders[i], *digest});
        }
        if (std::find(involved.begin(), involved.end(), *senders[i]) == involved.end()) {
            involved.push_back(*senders[i]);
        }
    }
    spdlog::warn("torrent {}: piece {} failed its hash check ({} peers sent blocks)", info_.name,
                 piece.get(), involved.size());
    // A piece with one sender proves that sender wrong; otherwise wait for the smart ban.
    if (involved.size() == 1) {
        charge(involved.front());
        return;
    }
    // Several senders: the next download goes to the one that sent the fewest blocks, alone.
    // It passes (the smart ban then judges the recorded blocks) or fails with one sender. Left
    // to the first asker, a fast liar that REJECTs one block of every piece wins every retry
    // and the piece fails forever.
    std::optional<peer_slot> solo;
    std::size_t fewest = senders.size() + 1;
    for (peer_slot who : involved) {
        const auto n = static_cast<std::size_t>(
            std::count(senders.begin(), senders.end(), std::optional<peer_slot>{who}));
        if (n < fewest && find_peer(who) != nullptr) {
            fewest = n;
            solo = who;
        }
    }
    if (solo) {
        picker_.reserve(piece, *solo);
        find_peer(*solo)->fill_requests();
    }
}

void torrent::judge_suspects(piece_index piece) {
    const auto it = suspects_.find(piece.get());
    if (it == suspects_.end()) {
        return;
    }
    // The piece now verifies: any recorded block that differs from the good data was bad.
    std::vector<peer_slot> guilty;
    for (const suspect_block& s : it->second) {
        const auto good = block_digest(piece, s.block);
        if (good && *good != s.digest &&
            std::find(guilty.begin(), guilty.end(), s.sender) == guilty.end()) {
            guilty.push_back(s.sender);
        }
    }
    suspects_.erase(it);
    for (peer_slot s : guilty) {
        charge(s);
    }
}

void torrent::charge(peer_slot slot) {
    auto& rec = slots_[slot.get()];
    ++rec.failures;
    spdlog::warn("peer {}: sent bad data ({} of {} strikes)", rec.addr.to_string(), rec.failures,
                 options_.ban_after_failures);
    if (rec.failures >= options_.ban_after_failures) {
        ban(slot);
    }
}

void torrent::ban(peer_slot slot) {
    auto& rec = slots_[slot.get()];
    bool fresh = banned_addrs_.insert(rec.addr.to_string()).second;
    if (rec.id) {
        fresh = banned_ids_.insert(*rec.id).second || fresh;
    }
    if (fresh) {
        ++stats_.peers_banned;
        if (shards_) {
            for (std::uint32_t k = 0; k < shards_->members.size(); ++k) {
                if (k != shard_) {
                    shards_->post(k, [addr = rec.addr.to_string(), id = rec.id](torrent& other) {
                        other.on_remote_ban(addr, id);
                    });
                }
            }
        }
    }
    if (auto* p = find_peer(slot)) {
        p->close(close_reason::policy, "banned for sending bad data");
    }
}

void torrent::finish_download() {
    if (completed_) {
        return;
    }
    completed_ = true;
    stats_.seconds_to_complete =
        std::chrono::duration<double>(reactor_.now() - started_).count();
    spdlog::info("torrent {}: download complete in {:.3f} s", info_.name,
                 *stats_.seconds_to_complete);
    if (shards_ && shard_ != 0) {
        // nothing to save here: the first shard owns the resume file
    } else if (auto saved = store_->save_resume(); !saved) {
        spdlog::warn("torrent {}: cannot save resume data: {}", info_.name,
                     saved.error().message());
    }
    std::vector<std::shared_ptr<peer_connection>> live;
    for (auto& [slot, p] : peers_) {
        live.push_back(p);
    }
    for (auto& p : live) {
        if (p->is_seed()) {
            p->close(close_reason::policy, "both sides are seeds");
        } else {
            p->update_interest();
        }
    }
    if (on_complete_) {
        on_complete_();
    }
}

}  // namespace minibit::swarm
