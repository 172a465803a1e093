// The tracker's state file: the swarm table as one compact binary snapshot, so a restarted
// tracker keeps its swarms. Little-endian layout:
//   header (48 B): magic "MBSTATE\0", version u32, flags u32 (0), written unix ms i64,
//                  peer timeout s u64, swarm count u64, peer count u64
//   per swarm:     info hash [20], downloaded u32, IPv4 peers u32, IPv6 peers u32, then each peer
//                  as endpoint (6 or 18 B, BEP 23 / BEP 7 order) + u32 (bit 31 seeder, age s)
//   trailer (8 B): XXH3-64 of everything before it
// An IPv4 peer costs 10 bytes (1M peers: ~10 MB). Codec functions are pure; the file functions
// do blocking I/O: call them off the reactor threads. Any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/tracker/swarm_table.hpp"

namespace minibit::tracker {

enum class state_errc {
    io = 1,        ///< the file could not be read or written (errno in the reason)
    bad_magic,     ///< not a tracker state file
    bad_version,   ///< written by another format version
    truncated,     ///< shorter than its header or its records say
    bad_checksum,  ///< the trailer does not match the content
    bad_record,    ///< counts that do not add up
    too_large,     ///< above the size limit given to read_state_file
};
[[nodiscard]] constexpr std::string_view error_domain(state_errc) {
    return "state";
}

inline constexpr std::uint32_t state_format_version = 1;
inline constexpr std::size_t state_header_bytes = 48;

/// Builds a state file in memory, one shard at a time (so each shard lock is held only while
/// that shard is encoded).
class state_writer {
public:
    /// Starts a file written at wall time `written` for a table with this peer timeout.
    state_writer(std::chrono::system_clock::time_point written, std::chrono::seconds peer_timeout);
    /// Encodes every swarm of a shard into a scratch buffer; `now` is the shard's clock (ages
    /// are taken from it). The part to run under the shard's lock: no allocation once warm.
    void encode_shard(const swarm_shard& shard, std::chrono::seconds now);
    /// Appends the encoded shard to the file (after the shard's lock is released).
    void commit_shard();
    /// encode_shard then commit_shard.
    void add_shard(const swarm_shard& shard, std::chrono::seconds now) {
        encode_shard(shard, now);
        commit_shard();
    }
    /// Fills in the counts and the checksum and hands the bytes over.
    [[nodiscard]] std::vector<std::uint8_t> finish();
    [[nodiscard]] std::uint64_t peers() const { return peers_; }
    [[nodiscard]] std::uint64_t swarms() const { return swarms_; }

private:
    std::vector<std::uint8_t> out_;
    std::vector<std::uint8_t> scratch_;  ///< one shard's records
    std::uint64_t swarms_ = 0;
    std::uint64_t peers_ = 0;
};

/// What a state file says about itself.
struct state_header {
    std::chrono::system_clock::time_point written;
    std::chrono::seconds peer_timeout{0};
    std::uint64_t swarms = 0;
    std::uint64_t peers = 0;
};

/// Called per swarm while reading: hash, completed downloads, and its peers (ages as written).
using state_swarm_fn =
    std::function<void(const info_hash&, std::uint32_t downloaded, std::span<const peer_entry>)>;

/// The header of a state file (magic and version checked; the rest is not).
[[nodiscard]] result<state_header> read_state_header(std::span<const std::uint8_t> bytes);

/// Checks a whole state file (magic, version, checksum, record counts) before calling `fn`
/// for any swarm, so a bad file delivers nothing. Errors carry the byte offset.
[[nodiscard]] result<state_header> read_state(std::span<const std::uint8_t> bytes,
                                              const state_swarm_fn& fn);

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync of the folder.
[[nodiscard]] result<void> write_file_atomically(const std::filesystem::path& path,
                                                 std::span<const std::uint8_t> bytes);
/// Reads a whole file of at most `max_bytes`.
[[nodiscard]] result<std::vector<std::uint8_t>> read_whole_file(const std::filesystem::path& path,
                                                                std::size_t max_bytes);

}  // namespace minibit::tracker
