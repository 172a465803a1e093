#include "minibit/storage/piece_store.hpp"

#include <xxhash.h>

#include <optional>
#include <tuple>
#include <utility>

#include "file_backend.hpp"
#include "resume_file.hpp"

namespace minibit::storage {

/// Hasher state reused across pieces (SHA-1 context and XXH3 state cost an allocation each).
struct hash_state {
    sha1_hasher sha;
    XXH3_state_t* xxh = XXH3_createState();

    hash_state() = default;
    ~hash_state() { XXH3_freeState(xxh); }
    hash_state(const hash_state&) = delete;
    hash_state& operator=(const hash_state&) = delete;
    hash_state(hash_state&&) = delete;
    hash_state& operator=(hash_state&&) = delete;
};

namespace {

/// Default resume file name: hidden, next to the data, named after the torrent.
std::filesystem::path beside_data(const std::filesystem::path& folder, const std::string& name) {
    std::string safe = name;
    for (char& c : safe) {
        if (c == '/') {
            c = '_';
        }
    }
    return folder / ("." + safe + ".minibit-resume");
}

/// The resume files open() reads (in order) and save_resume() writes (first that works).
std::pair<std::vector<std::filesystem::path>, std::vector<std::filesystem::path>> resume_places(
    const metainfo& t, const std::filesystem::path& folder, const store_options& o) {
    if (!o.resume_path.empty()) {
        return {{o.resume_path}, {o.resume_path}};
    }
    const std::filesystem::path beside = beside_data(folder, t.name);
    if (o.state_dir.empty()) {
        if (o.access == access_mode::read_only) {
            return {{beside}, {}};  // a seed writes nothing next to the data
        }
        return {{beside}, {beside}};
    }
    const std::filesystem::path state = o.state_dir / (t.hash.hex() + ".resume");
    if (o.access == access_mode::read_only) {
        return {{state, beside}, {state}};
    }
    return {{beside, state}, {beside, state}};
}

/// The first resume data that exists, parses, and finds every file exactly as it recorded.
std::optional<resume_data> trusted_resume(const std::vector<std::filesystem::path>& paths,
                                          const metainfo& t, const file_set& files) {
    for (const std::filesystem::path& path : paths) {
        auto loaded = load_resume(path, t.hash, files.size(), t.piece_count());
        if (!loaded || !loaded->has_value()) {
            continue;  // missing or malformed
        }
        bool same = true;
        for (std::size_t i = 0; i < files.size() && same; ++i) {
            same = files[i].existed && files[i].found == (*loaded)->files[i];
        }
        if (same) {
            return std::move(**loaded);
        }
    }
    return std::nullopt;  // full verification instead
}

/// Writes the resume bytes to the first place that takes them (creating a state folder 0700).
/// The next place is tried only when one refuses writing (permissions, read-only mount, a
/// folder in the way); a full disk or an I/O error is reported as is.
result<void> write_resume(const std::vector<std::filesystem::path>& places,
                          const std::string& bytes) {
    result<void> status;
    for (const std::filesystem::path& path : places) {
        std::error_code ec;
        const std::filesystem::path folder = path.parent_path();
        if (!folder.empty() && !std::filesystem::exists(folder, ec)) {
            std::filesystem::create_directories(folder, ec);
            std::filesystem::permissions(folder, std::filesystem::perms::owner_all, ec);
        }
        status = write_file_atomically(path, bytes);
        if (status || !is(status.error(), storage_errc::not_writable)) {
            return status;
        }
    }
    return status;
}

}  // namespace

piece_store::piece_store() = default;

piece_store::~piece_store() {
    if (!closed_) {
        (void)close();
    }
}

result<std::unique_ptr<piece_store>> piece_store::open(const metainfo& torrent,
                                                       const std::filesystem::path& folder,
                                                       const store_options& options) {
    auto layout = torrent_layout::from(torrent);
    if (!layout) {
        return std::unexpected(std::move(layout.error()));
    }
    auto files = file_set::open(*layout, folder, options.allocation, options.access);
    if (!files) {
        return std::unexpected(std::move(files.error()));
    }
    std::unique_ptr<piece_store> store(new piece_store());
    store->access_ = options.access;
    store->durable_ = options.durable;
    if (options.durable) {
        std::tie(store->resume_reads_, store->resume_writes_) = resume_places(torrent, folder,
                                                                              options);
    }
    // The sizes and mtimes compared are those found before open changed anything.
    const std::optional<resume_data> resume = trusted_resume(store->resume_reads_, torrent, *files);
    if (options.backend == backend_kind::mmap) {
        auto backend = make_mmap_backend(std::move(*layout), std::move(*files));
        if (!backend) {
            return std::unexpected(std::move(backend.error()));
        }
        store->backend_ = std::move(*backend);
    } else {
        store->backend_ = make_pread_backend(std::move(*layout), std::move(*files));
    }
    store->piece_hashes_ = torrent.piece_hashes;
    store->info_hash_ = torrent.hash;
    store->piece_count_ = torrent.piece_count();
    store->hashers_ = std::make_unique<hash_state>();
    store->have_ = bitfield(store->piece_count_);
    store->xxh3_.assign(store->piece_count_, 0);
    if (auto ok = store->find_present_pieces(resume ? &*resume : nullptr); !ok) {
        store->have_ = bitfield(store->piece_count_);   // a failed open keeps nothing: the
        return std::unexpected(std::move(ok.error()));  // destructor undoes what it changed
    }
    return store;
}

result<void> piece_store::find_present_pieces(const resume_data* resume) {
    for (piece_index p{0}; p.get() < piece_count_; ++p) {
        const std::uint64_t start = backend_->layout().piece_start(p);
        const std::uint64_t length = piece_size(p);
        if (resume != nullptr) {
            // Trusted resume: files unchanged since it was written, so unclaimed pieces are
            // missing and claimed ones only need the fast digest.
            if (!resume->have.test(p)) {
                continue;
            }
            auto digest = xxh3_of(p);
            if (!digest) {
                return std::unexpected(std::move(digest.error()));
            }
            ++stats_.xxh3_checked;
            if (*digest == resume->xxh3[p.get()]) {
                have_.set(p);
                xxh3_[p.get()] = *digest;
                backend_->advise_done(start, length);
                continue;
            }
        } else if (only_in_new_files(p)) {
            continue;  // we just created every file it touches: nothing there yet
        }
        auto ok = sha1_check(p);
        if (!ok) {
            return std::unexpected(std::move(ok.error()));
        }
        backend_->advise_done(start, length);
    }
    return {};
}

bool piece_store::only_in_new_files(piece_index piece) const {
    const file_set& files = backend_->files();
    return backend_->layout().for_each_segment(
        backend_->layout().piece_start(piece), piece_size(piece),
        [&files](const file_segment& s) { return !files[s.file].existed; });
}

result<std::uint64_t> piece_store::xxh3_of(piece_index piece) {
    XXH3_state_t* st = hashers_->xxh;
    (void)XXH3_64bits_reset(st);
    auto ok = backend_->visit(backend_->layout().piece_start(piece), piece_size(piece),
                              [st](std::span<const std::uint8_t> chunk) {
                                  (void)XXH3_64bits_update(st, chunk.data(), chunk.size());
                              });
    if (!ok) {
        return std::unexpected(std::move(ok.error()));
    }
    return XXH3_64bits_digest(st);
}

result<void> piece_store::sha1_check(piece_index piece) {
    auto check = hash_piece(piece);
    ++stats_.sha1_checked;
    if (!check) {
        return std::unexpected(std::move(check.error()));
    }
    record_check(*check);
    return {};
}

void piece_store::record_check(const piece_check& check) {
    if (check.matches) {
        have_.set(check.piece);
        xxh3_[check.piece.get()] = check.xxh3;
    } else {
        have_.reset(check.piece);
    }
}

result<piece_check> piece_store::hash_piece(piece_index piece) const {
    if (auto ok = check_range(piece, 0, piece_size(piece)); !ok) {
        return std::unexpected(std::move(ok.error()));
    }
    // One pass feeds both hashes: SHA-1 decides, XXH3 goes into the resume file. The states are
    // per thread, so hashing workers and the owning thread never share one.
    thread_local hash_state hashers;
    // A store that is not durable keeps no resume data: SHA-1 only.
    XXH3_state_t* st = durable_ ? hashers.xxh : nullptr;
    sha1_hasher& sha = hashers.sha;
    if (st != nullptr) {
        (void)XXH3_64bits_reset(st);
    }
    auto ok = backend_->visit(backend_->layout().piece_start(piece), piece_size(piece),
                              [st, &sha](std::span<const std::uint8_t> chunk) {
                                  sha.update(chunk);
                                  if (st != nullptr) {
                                      (void)XXH3_64bits_update(st, chunk.data(), chunk.size());
                                  }
                              });
    if (!ok) {
        hashers.sha = sha1_hasher{};  // the fault may have left it mid-update
        return std::unexpected(std::move(ok.error()));
    }
    const bool good = sha.finish() == piece_hashes_[piece.get()];
    return piece_check{piece, good, st != nullptr ? XXH3_64bits_digest(st) : 0};
}

bool piece_store::commit_check(const piece_check& check) {
    if (closed_ || check.piece.get() >= piece_count_) {
        return false;
    }
    ++stats_.sha1_checked;
    record_check(check);
    // No write-back is started here: the kernel writes dirty pages back on its own schedule,
    // and save_resume() makes every verified piece durable (fdatasync) before the resume file
    // may claim it. A sync_file_range per piece cost 8% CPU and 13% transfer time
    // (docs/archive/BENCHMARKS-2026.md).
    return check.matches;
}

result<void> piece_store::check_range(piece_index piece, std::uint64_t offset,
                                      std::uint64_t length) const {
    if (closed_) {
        return fail(storage_errc::closed, "the piece store is closed");
    }
    if (piece.get() >= piece_count_) {
        return fail(storage_errc::bad_piece, "piece " + std::to_string(piece.get()) +
                                                 " out of range (" + std::to_string(piece_count_) +
                                                 " pieces)");
    }
    const std::uint64_t size = piece_size(piece);
    if (length == 0 || offset > size || length > size - offset) {
        return fail(storage_errc::bad_range, "block at " + std::to_string(offset) + " of " +
                                                 std::to_string(length) + " bytes outside piece " +
                                                 std::to_string(piece.get()) + " of " +
                                                 std::to_string(size) + " bytes");
    }
    return {};
}

result<void> piece_store::write_unverified(piece_index piece, std::uint32_t offset,
                                           std::span<const std::byte> data) const {
    if (auto ok = check_range(piece, offset, data.size()); !ok) {
        return ok;
    }
    if (access_ == access_mode::read_only) {
        return fail(storage_errc::read_only, "the data was opened read-only (seed)");
    }
    return backend_->write(backend_->layout().piece_start(piece) + offset, data);
}

result<void> piece_store::read_block(piece_index piece, std::uint32_t offset,
                                     std::span<std::byte> out) const {
    if (auto ok = check_range(piece, offset, out.size()); !ok) {
        return ok;
    }
    return backend_->read(backend_->layout().piece_start(piece) + offset, out);
}

result<block_span_list> piece_store::block_spans(piece_index piece, std::uint32_t offset,
                                                 std::uint32_t length) const {
    if (auto ok = check_range(piece, offset, length); !ok) {
        return std::unexpected(std::move(ok.error()));
    }
    return backend_->spans(backend_->layout().piece_start(piece) + offset, length);
}

std::vector<piece_index> piece_store::drop_pieces_not_on_disk() {
    std::vector<piece_index> dropped;
    if (closed_) {
        return dropped;
    }
    const file_set& files = backend_->files();
    std::vector<std::uint64_t> sizes(files.size(), 0);
    for (std::size_t i = 0; i < files.size(); ++i) {
        const auto now = files.stamp(i);
        sizes[i] = now ? now->size : 0;  // a file we cannot stat serves nothing
    }
    for (piece_index p{0}; p.get() < piece_count_; ++p) {
        if (!have_.test(p)) {
            continue;
        }
        const bool whole = backend_->layout().for_each_segment(
            backend_->layout().piece_start(p), piece_size(p),
            [&sizes](const file_segment& s) { return sizes[s.file] >= s.offset + s.length; });
        if (!whole) {
            have_.reset(p);
            dropped.push_back(p);
        }
    }
    return dropped;
}

std::optional<error> piece_store::truncated_file() const {
    const file_set& files = backend_->files();
    for (std::size_t i = 0; i < files.size(); ++i) {
        const auto now = files.stamp(i);
        if (now && now->size < files[i].length) {
            return make_error(storage_errc::fault,
                              "file " + files[i].full_path.string() + " was truncated to " +
                                  std::to_string(now->size) + " bytes (expected " +
                                  std::to_string(files[i].length) + ")");
        }
    }
    return std::nullopt;
}

std::uint64_t piece_store::piece_size(piece_index piece) const {
    return backend_->layout().piece_size(piece);
}

result<void> piece_store::flush() {
    if (closed_) {
        return fail(storage_errc::closed, "the piece store is closed");
    }
    // fdatasync covers MAP_SHARED writes: the mapping and the file share the page cache
    // (and msync(MS_ASYNC) is a no-op on Linux).
    return backend_->files().sync_all();
}

result<void> piece_store::save_resume() {
    if (!durable_) {
        return {};  // a throwaway copy: nothing to make durable, no resume file
    }
    if (auto ok = flush(); !ok) {
        return ok;
    }
    if (have_.none() || resume_writes_.empty()) {
        return {};  // nothing to resume, or nowhere to keep it (the next start hashes)
    }
    resume_data data{info_hash_, {}, have_, xxh3_};
    const file_set& files = backend_->files();
    for (std::size_t i = 0; i < files.size(); ++i) {
        auto now = files.stamp(i);
        if (!now) {
            return std::unexpected(std::move(now.error()));
        }
        data.files.push_back(*now);
    }
    return write_resume(resume_writes_, encode_resume(data));
}

result<void> piece_store::close() {
    if (closed_) {
        return {};
    }
    closed_ = true;
    backend_->release();
    result<void> undone;
    if (have_.none()) {
        undone = backend_->files().undo_open();  // nothing worth keeping: leave no trace
    }
    backend_->files().close_all();
    return undone;
}

}  // namespace minibit::storage
