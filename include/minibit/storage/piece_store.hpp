// The piece store: a torrent's files on disk seen as pieces. One API for the engine and its
// tests: write blocks of a piece nobody has verified (write_unverified), hash a piece
// (hash_piece, any thread), record the verdict (commit_check, owning thread), read blocks or
// borrow views of them for zero-copy sends, save and load resume data (per-piece XXH3 digests,
// trusted only while every file's size and mtime match).
// Two ways to open: read_write (get) may create the torrent's missing files and folders inside
// the folder and grow short files, never following a symbolic link below the folder, never
// truncating; read_only (seed) opens complete files O_RDONLY, maps them PROT_READ and writes
// nothing next to the data. A store that ends (close or destructor) without a single verified
// piece removes the files and folders it created and shrinks back what it grew, so a failed
// start leaves the folder as it was. Two back ends: mmap (default; read-only mappings, blocks
// written with pwrite) and pread/pwrite (baseline). A piece_store belongs to one thread at a
// time, except write_unverified() and hash_piece(), which any thread may run on a piece nobody
// else touches meanwhile; faults on a mapping (truncated file, full disk) come back as
// storage_errc::fault error values, never as a SIGBUS crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "minibit/core/bitfield.hpp"
#include "minibit/core/metainfo.hpp"
#include "minibit/core/result.hpp"
#include "minibit/core/units.hpp"

namespace minibit::storage {

enum class storage_errc {
    bad_layout = 1,  ///< the metainfo's files, lengths or piece hashes do not add up
    bad_piece,       ///< piece index out of range
    bad_range,       ///< offset or length outside the piece, or zero length
    io,              ///< a system call failed (reason carries strerror)
    no_space,        ///< the filesystem cannot hold the torrent (ENOSPC)
    fault,           ///< a mapped file was truncated underneath us or the disk filled up
    unsupported,     ///< the operation needs the other back end (block_spans on pread)
    too_fragmented,  ///< the block crosses more files than block_span_list can hold
    bad_resume,      ///< a resume file is malformed or belongs to another torrent (ignored)
    closed,          ///< the store was closed
    read_only,       ///< a write to a store opened read_only
    not_writable,    ///< the folder or a file cannot be written (permissions, read-only mount)
    wrong_file,      ///< a file is missing, of the wrong size, or a folder/file is in its place
    unsafe_path,     ///< a symbolic link below the folder (read_write never follows one)
};
[[nodiscard]] constexpr std::string_view error_domain(storage_errc) {
    return "storage";
}

/// How blocks reach the disk.
enum class backend_kind { mmap, pread };

/// How files are sized at open. full: posix_fallocate, so a full disk shows at open time as
/// no_space (measured: 1.2 ms per GiB on this machine's ext4, it only reserves extents).
/// sparse: ftruncate plus the same statvfs free-space check, without reserving; if the disk
/// fills later, writes return no_space (pread) or fault (mmap, SIGBUS caught), never a crash.
enum class allocation_mode { full, sparse };

/// What open may do to the files. read_write: create missing files and folders of the torrent
/// inside the folder (the folder itself too, when its parent exists) and grow short files;
/// refuses symbolic links below the folder and files longer than the torrent's. read_only:
/// every file must exist with its exact length; nothing is created, grown or written.
enum class access_mode { read_write, read_only };

/// Options for piece_store::open.
struct store_options {
    backend_kind backend = backend_kind::mmap;
    allocation_mode allocation = allocation_mode::full;
    /// Set: the only resume file read and written. Empty: read_write keeps it beside the data
    /// (<folder>/.<name>.minibit-resume) and falls back to the state folder when that cannot
    /// be written; read_only reads the state folder's, then the one beside the data, and
    /// writes only the state folder's.
    std::filesystem::path resume_path;
    access_mode access = access_mode::read_write;
    /// Resume files that cannot live beside the data: <state_dir>/<info hash hex>.resume,
    /// the folder created (0700) on first save. Empty: none (verification by hashing).
    std::filesystem::path state_dir;
    /// False for a throwaway copy (the load generator's in-process peers): no resume file is
    /// read or written, no XXH3 digest is computed and save_resume() syncs nothing, so a
    /// restart hashes every piece again. True (the default) for every real download.
    bool durable = true;
};

/// How pieces were checked at open (and since); lets tests see the resume fast path.
struct store_stats {
    std::uint64_t sha1_checked = 0;  ///< pieces hashed with SHA-1
    std::uint64_t xxh3_checked = 0;  ///< pieces a trusted resume file claimed, checked with XXH3
};

/// What hash_piece() found: whether the SHA-1 matched, and the piece's XXH3 (for resume data).
struct piece_check {
    piece_index piece;
    bool matches = false;
    std::uint64_t xxh3 = 0;
};

/// Up to max_spans read-only views into the mappings that together form one block.
struct block_span_list {
    static constexpr std::size_t max_spans = 8;
    std::array<std::span<const std::byte>, max_spans> spans{};
    std::size_t count = 0;

    /// The filled spans, in stream order.
    [[nodiscard]] std::span<const std::span<const std::byte>> view() const {
        return {spans.data(), count};
    }
};

class file_backend;
struct hash_state;
struct resume_data;

/// A torrent's data on disk, addressed by piece.
class piece_store {
public:
    /// Opens (read_write: creates and sizes) the files, maps them, and finds the pieces
    /// present (trusted resume data, else SHA-1). Fails without changing anything on disk.
    [[nodiscard]] static result<std::unique_ptr<piece_store>> open(
        const metainfo& torrent, const std::filesystem::path& folder,
        const store_options& options = {});
    ~piece_store();
    piece_store(const piece_store&) = delete;
    piece_store& operator=(const piece_store&) = delete;
    piece_store(piece_store&&) = delete;
    piece_store& operator=(piece_store&&) = delete;

    /// Writes a block of a piece that is not verified (the caller never writes a piece it
    /// has); the have bits are left alone. Any thread, concurrently with writes to and
    /// hash_piece() of other pieces (the reactors serving one torrent each write the pieces
    /// they claimed). read_only stores refuse with storage_errc::read_only.
    [[nodiscard]] result<void> write_unverified(piece_index piece, std::uint32_t offset,
                                                std::span<const std::byte> data) const;
    /// Reads out.size() bytes of a piece starting at offset into out.
    [[nodiscard]] result<void> read_block(piece_index piece, std::uint32_t offset,
                                          std::span<std::byte> out) const;
    /// Views into the mappings for a block, for sending without a copy (mmap back end only).
    /// The spans stay valid until the store is closed; a send from a truncated file gets EFAULT.
    [[nodiscard]] result<block_span_list> block_spans(piece_index piece, std::uint32_t offset,
                                                      std::uint32_t length) const;
    /// Clears the have bit of every piece whose bytes now reach past the end of its file (a
    /// file truncated underneath us) and returns those pieces, in order; they are no longer
    /// served or counted. Costs one fstat per file.
    [[nodiscard]] std::vector<piece_index> drop_pieces_not_on_disk();
    /// What cut served data short, for a send that failed on it (EFAULT): "file F was
    /// truncated to N bytes (expected M)" for the first file shorter than the torrent says, or
    /// nullopt when none is. Costs one fstat per file.
    [[nodiscard]] std::optional<error> truncated_file() const;
    /// Hashes the piece (SHA-1 decides, XXH3 for the resume data), changing nothing: any
    /// thread, concurrently with writes to other pieces (nobody writes this one meanwhile).
    [[nodiscard]] result<piece_check> hash_piece(piece_index piece) const;
    /// Records a hash_piece() verdict on the owning thread: counts the check, sets or clears
    /// the have bit. Durable only at the next save_resume(). Returns check.matches.
    bool commit_check(const piece_check& check);

    /// Pieces verified so far.
    [[nodiscard]] const bitfield& have() const { return have_; }
    /// Length of piece i in bytes (the last piece may be shorter); 0 when out of range.
    [[nodiscard]] std::uint64_t piece_size(piece_index piece) const;
    /// Number of pieces in the torrent.
    [[nodiscard]] std::uint32_t piece_count() const { return piece_count_; }
    /// How many pieces were checked with SHA-1 and with XXH3 so far.
    [[nodiscard]] const store_stats& stats() const { return stats_; }

    /// Writes dirty data to disk (fdatasync per file; nothing to do when read_only).
    [[nodiscard]] result<void> flush();
    /// Flushes, then writes the resume file atomically (temp file + rename) where
    /// store_options says; writes nothing while no piece is verified, nor when not durable.
    [[nodiscard]] result<void> save_resume();
    /// Unmaps and closes the files, without saving resume data. With no piece verified, also
    /// removes the files and folders open() created and shrinks grown files back to their
    /// size and mtime (read_write). The destructor calls it when not done yet.
    [[nodiscard]] result<void> close();

private:
    piece_store();
    [[nodiscard]] result<void> check_range(piece_index piece, std::uint64_t offset,
                                           std::uint64_t length) const;
    [[nodiscard]] result<void> find_present_pieces(const resume_data* resume);
    [[nodiscard]] bool only_in_new_files(piece_index piece) const;
    [[nodiscard]] result<void> sha1_check(piece_index piece);
    void record_check(const piece_check& check);
    [[nodiscard]] result<std::uint64_t> xxh3_of(piece_index piece);

    std::vector<sha1_digest> piece_hashes_;
    info_hash info_hash_;
    std::unique_ptr<file_backend> backend_;
    std::unique_ptr<hash_state> hashers_;
    std::vector<std::filesystem::path> resume_reads_;   ///< tried in order at open
    std::vector<std::filesystem::path> resume_writes_;  ///< tried in order by save_resume()
    bitfield have_;
    std::vector<std::uint64_t> xxh3_;  ///< per piece, valid where have_ is set
    bool durable_ = true;              ///< store_options::durable
    std::uint32_t piece_count_ = 0;
    store_stats stats_;
    access_mode access_ = access_mode::read_write;
    bool closed_ = false;
};

/// True for a multi-file torrent whose folder holds no `<name>` but every file of the torrent
/// directly (folder/<path> instead of folder/<name>/<path>): the layout MiniBit used before it
/// followed BEP 3. Lets a caller say why the data is not found; nothing is moved.
[[nodiscard]] bool flat_layout_found(const metainfo& torrent, const std::filesystem::path& folder);

}  // namespace minibit::storage
