// Small pure decisions of the peer engine, kept apart so unit tests can table them: how many
// requests to keep in flight to a peer, and which of two connections to the same peer survives.
// Functions of plain values; any thread.
#pragma once

#include <cstdint>

#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/peer_message.hpp"

namespace minibit::swarm {

/// Requests kept in flight to a snubbed peer until it delivers again.
inline constexpr std::uint32_t snubbed_requests = 2;

/// What the pipeline size depends on.
struct pipeline_input {
    double download_rate = 0.0;  ///< bytes/s from this peer over the meter's window
    bool received_any = false;   ///< false until the first block arrived (rate unknown)
    bool snubbed = false;
    std::uint32_t peer_reqq = 250;  ///< BEP 10 reqq the peer advertised
};

/// Outstanding requests to keep: rate x pipeline_seconds in 16 KiB blocks, clamped to
/// [min_requests, max_requests], initial_requests before the first block, 2 when snubbed,
/// never above the peer's reqq.
[[nodiscard]] std::uint32_t pipeline_target(const pipeline_input& in, const torrent_options& opt);

/// Who dialled a connection.
enum class dialled_by { us, them };

/// Two connections to one peer: both ends keep the one dialled by the smaller peer id. Returns
/// true when the connection dialled by `newer` should be kept (and the other one closed).
[[nodiscard]] bool keep_newer_connection(const wire::peer_id& ours, const wire::peer_id& theirs,
                                         dialled_by newer);

}  // namespace minibit::swarm
