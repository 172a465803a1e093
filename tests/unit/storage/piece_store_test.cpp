// Piece store behaviour over real temp files, for both back ends (mmap and pread/pwrite),
// through the calls the engine makes: write_unverified, hash_piece + commit_check, read_block,
// block_spans, save_resume.
#include "minibit/storage/piece_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "test_torrent.hpp"

namespace minibit::storage {
namespace {

using test::make_torrent;
using test::read_file;
using test::temp_dir;
using test::test_torrent;

std::span<const std::byte> slice(const std::vector<std::byte>& v, std::size_t from, std::size_t n) {
    return std::span<const std::byte>(v).subspan(from, n);
}

/// Writes every piece of t in blocks of block_bytes, then verifies each piece.
void download_all(piece_store& store, const test_torrent& t, std::size_t block_bytes) {
    for (std::uint32_t p = 0; p < store.piece_count(); ++p) {
        const std::vector<std::byte> bytes = t.piece(p);
        for (std::size_t off = 0; off < bytes.size(); off += block_bytes) {
            const std::size_t n = std::min(block_bytes, bytes.size() - off);
            ASSERT_TRUE(store.write_unverified(piece_index{p}, static_cast<std::uint32_t>(off),
                                               slice(bytes, off, n)));
        }
        auto ok = test::verify(store, piece_index{p});
        ASSERT_TRUE(ok) << ok.error().message();
        EXPECT_TRUE(*ok) << "piece " << p;
    }
}

class PieceStore : public ::testing::TestWithParam<backend_kind> {
protected:
    [[nodiscard]] store_options options() const { return test::options_for(GetParam()); }
    temp_dir dir_;
};

TEST_P(PieceStore, SingleFileWriteThenVerifySetsEveryHaveBit) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 100000}}, 32768);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ((*store)->piece_count(), 4U);
    EXPECT_TRUE((*store)->have().none());
    EXPECT_EQ((*store)->stats().sha1_checked, 0U);  // fresh files: nothing to check
    download_all(**store, t, block_size_bytes);
    EXPECT_TRUE((*store)->have().all());
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    ASSERT_TRUE((*store)->flush());
    EXPECT_EQ(read_file(dir_.path() / "single.bin"), t.content);
}

TEST_P(PieceStore, LastPieceIsShorterThanTheOthers) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 100000}}, 32768);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->piece_size(piece_index{2}), 32768U);
    EXPECT_EQ((*store)->piece_size(piece_index{3}), 1696U);
    EXPECT_EQ((*store)->piece_size(piece_index{4}), 0U);
    const std::vector<std::byte> last = t.piece(3);
    ASSERT_EQ(last.size(), 1696U);
    ASSERT_TRUE((*store)->write_unverified(piece_index{3}, 0, last));
    auto ok = test::verify(**store, piece_index{3});
    ASSERT_TRUE(ok);
    EXPECT_TRUE(*ok);
    std::vector<std::byte> too_long(1697);
    auto err = (*store)->write_unverified(piece_index{3}, 0, too_long);
    ASSERT_FALSE(err);
    EXPECT_TRUE(is(err.error(), storage_errc::bad_range));
}

TEST_P(PieceStore, MultiFileBlocksCrossFileBoundariesAndZeroLengthFiles) {
    const test_torrent t = make_torrent("multi",
                                        {{"multi/a", 5000},
                                         {"multi/dir/empty1", 0},
                                         {"multi/dir/c", 30000},
                                         {"multi/empty2", 0},
                                         {"multi/e", 12345}},
                                        16384);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ((*store)->piece_count(), 3U);
    download_all(**store, t, 1000);  // odd block size: many blocks straddle files
    EXPECT_TRUE((*store)->have().all());
    ASSERT_TRUE((*store)->flush());
    const auto& c = t.content;
    EXPECT_EQ(read_file(dir_.path() / "multi/a"),
              std::vector<std::byte>(c.begin(), c.begin() + 5000));
    EXPECT_EQ(read_file(dir_.path() / "multi/dir/c"),
              std::vector<std::byte>(c.begin() + 5000, c.begin() + 35000));
    EXPECT_EQ(read_file(dir_.path() / "multi/e"),
              std::vector<std::byte>(c.begin() + 35000, c.end()));
    EXPECT_EQ(std::filesystem::file_size(dir_.path() / "multi/dir/empty1"), 0U);
    EXPECT_EQ(std::filesystem::file_size(dir_.path() / "multi/empty2"), 0U);
}

TEST_P(PieceStore, ReadBlockAcrossFilesReturnsWrittenBytes) {
    const test_torrent t = make_torrent("m", {{"m/a", 10}, {"m/z", 0}, {"m/b", 20}, {"m/c", 30}},
                                        64);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->write_unverified(piece_index{0}, 0, t.piece(0)));
    std::vector<std::byte> out(25);
    ASSERT_TRUE((*store)->read_block(piece_index{0}, 5, out));  // a[5..10) + b + c[0..0)
    EXPECT_EQ(out, std::vector<std::byte>(t.content.begin() + 5, t.content.begin() + 30));
}

TEST_P(PieceStore, CorruptedPieceFailsVerificationAndStaysMissing) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 40000}}, 16384);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    std::vector<std::byte> bad = t.piece(1);
    bad[777] ^= std::byte{0x01};
    ASSERT_TRUE((*store)->write_unverified(piece_index{1}, 0, bad));
    auto verdict = test::verify(**store, piece_index{1});
    ASSERT_TRUE(verdict);
    EXPECT_FALSE(*verdict);
    EXPECT_FALSE((*store)->have().test(piece_index{1}));
    ASSERT_TRUE((*store)->write_unverified(piece_index{1}, 777, slice(t.content, 16384 + 777, 1)));
    verdict = test::verify(**store, piece_index{1});
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(*verdict);
    EXPECT_EQ((*store)->have().count(), 1U);
}

TEST_P(PieceStore, AVerifiedPieceWhoseBytesChangedFailsItsNextCheck) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 20000}}, 16384);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->write_unverified(piece_index{1}, 0, t.piece(1)));
    ASSERT_TRUE(test::verify(**store, piece_index{1}).value_or(false));
    {
        std::fstream f(dir_.path() / "single.bin", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(16384 + 5);
        f.put(static_cast<char>(~static_cast<unsigned char>(t.content[16384 + 5])));
    }
    auto again = test::verify(**store, piece_index{1});
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
    EXPECT_FALSE((*store)->have().test(piece_index{1}));
}

TEST_P(PieceStore, RejectsBadPieceIndexOffsetAndLength) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 20000}}, 16384);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    std::vector<std::byte> buf(100);
    auto e1 = (*store)->read_block(piece_index{2}, 0, buf);
    ASSERT_FALSE(e1);
    EXPECT_TRUE(is(e1.error(), storage_errc::bad_piece));
    auto e2 = (*store)->read_block(piece_index{1}, 3600, buf);  // piece 1 holds 3616 bytes
    ASSERT_FALSE(e2);
    EXPECT_TRUE(is(e2.error(), storage_errc::bad_range));
    auto e3 = (*store)->read_block(piece_index{0}, 0, std::span<std::byte>{});
    ASSERT_FALSE(e3);
    EXPECT_TRUE(is(e3.error(), storage_errc::bad_range));
    auto e4 = (*store)->write_unverified(piece_index{0}, 0xFFFFFFFFU, buf);
    ASSERT_FALSE(e4);
    EXPECT_TRUE(is(e4.error(), storage_errc::bad_range));
    auto e5 = test::verify(**store, piece_index{7});
    ASSERT_FALSE(e5);
    EXPECT_TRUE(is(e5.error(), storage_errc::bad_piece));
    auto e6 = (*store)->block_spans(piece_index{0}, 16000, 385);
    ASSERT_FALSE(e6);
    EXPECT_TRUE(is(e6.error(), storage_errc::bad_range));
}

TEST_P(PieceStore, ReopenAfterSaveAndCloseFindsEveryPieceByItsResumeDigest) {
    const test_torrent t = make_torrent("r", {{"r/a", 7000}, {"r/b", 9000}}, 4096);
    {
        auto store = piece_store::open(t.info, dir_.path(), options());
        ASSERT_TRUE(store);
        download_all(**store, t, block_size_bytes);
        ASSERT_TRUE((*store)->save_resume());
        ASSERT_TRUE((*store)->close());
    }
    auto again = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_TRUE((*again)->have().all());
    EXPECT_EQ((*again)->stats().xxh3_checked, 4U);
    EXPECT_EQ((*again)->stats().sha1_checked, 0U);
    std::vector<std::byte> out(t.content.size() % 4096);
    ASSERT_TRUE((*again)->read_block(piece_index{3}, 0, out));
    EXPECT_EQ(out, t.piece(3));
}

TEST_P(PieceStore, OperationsAfterCloseReturnClosed) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 100}}, 64);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->close());
    std::vector<std::byte> out(10);
    auto e = (*store)->read_block(piece_index{0}, 0, out);
    ASSERT_FALSE(e);
    EXPECT_TRUE(is(e.error(), storage_errc::closed));
}

TEST_P(PieceStore, ExistingFileLongerThanTheTorrentsIsRefusedNotTruncated) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 5000}}, 4096);
    {
        std::ofstream f(dir_.path() / "single.bin", std::ios::binary);
        f.write(reinterpret_cast<const char*>(t.content.data()), 5000);
        f.write("trailing bytes beyond the torrent's length", 42);
    }
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_FALSE(store);
    EXPECT_TRUE(is(store.error(), storage_errc::wrong_file)) << store.error().message();
    EXPECT_NE(store.error().reason.find("is 5042 bytes, more than the torrent's 5000"),
              std::string::npos)
        << store.error().reason;
    EXPECT_EQ(std::filesystem::file_size(dir_.path() / "single.bin"), 5042U);
}

TEST_P(PieceStore, ExistingShortFileIsGrownAndItsPiecesFound) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 10000}}, 4096);
    std::ofstream(dir_.path() / "single.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(t.content.data()), 4096);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ(std::filesystem::file_size(dir_.path() / "single.bin"), 10000U);
    EXPECT_EQ((*store)->stats().sha1_checked, 3U);
    EXPECT_EQ((*store)->have().count(), 1U);
    EXPECT_TRUE((*store)->have().test(piece_index{0}));
}

TEST_P(PieceStore, TorrentLargerThanTheDiskFailsAtOpenWithNoSpace) {
    const test_torrent t = make_torrent("huge", {{"huge/small", 10}, {"huge/big", 0}}, 1U << 28U);
    metainfo info = t.info;
    info.files[1].length = std::uint64_t{1} << 46U;  // 64 TiB: more than any test disk
    info.total_length += info.files[1].length;
    info.piece_hashes.resize((info.total_length + info.piece_length - 1) / info.piece_length);
    for (const allocation_mode mode : {allocation_mode::full, allocation_mode::sparse}) {
        auto store = piece_store::open(info, dir_.path(), test::options_for(GetParam(), mode));
        ASSERT_FALSE(store);
        EXPECT_TRUE(is(store.error(), storage_errc::no_space)) << store.error().message();
    }
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "huge"));
}

TEST_P(PieceStore, SparseModeCreatesFilesWithoutAllocatingThem) {
    const test_torrent t = make_torrent("s", {{"s/a", 1 << 20}}, 1 << 16);
    auto store = piece_store::open(t.info, dir_.path(),
                                   test::options_for(GetParam(), allocation_mode::sparse));
    ASSERT_TRUE(store);
    struct stat st {};
    ASSERT_EQ(::stat((dir_.path() / "s/a").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1 << 20);
    EXPECT_EQ(st.st_blocks, 0);
    ASSERT_TRUE((*store)->write_unverified(piece_index{5}, 0, t.piece(5)));
    ASSERT_TRUE(test::verify(**store, piece_index{5}).value_or(false));
}

TEST_P(PieceStore, HashPieceChangesNothingUntilTheVerdictIsCommitted) {
    const test_torrent t = make_torrent("single.bin", {{"single.bin", 40000}}, 16384);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->write_unverified(piece_index{2}, 0, t.piece(2)));
    auto check = (*store)->hash_piece(piece_index{2});
    ASSERT_TRUE(check) << check.error().message();
    EXPECT_TRUE(check->matches);
    EXPECT_EQ(check->piece, piece_index{2});
    EXPECT_TRUE((*store)->have().none());
    EXPECT_EQ((*store)->stats().sha1_checked, 0U);
    EXPECT_TRUE((*store)->commit_check(*check));
    EXPECT_TRUE((*store)->have().test(piece_index{2}));
    EXPECT_EQ((*store)->stats().sha1_checked, 1U);
    EXPECT_FALSE((*store)->commit_check(storage::piece_check{piece_index{9}, true, 0}));
}

TEST_P(PieceStore, RejectsInconsistentLayouts) {
    test_torrent t = make_torrent("m", {{"m/a", 10}, {"m/b", 20}}, 16);
    metainfo gap = t.info;
    gap.files[1].offset = 11;
    metainfo escape = t.info;
    escape.files[0].path = "m/../../etc/passwd";
    metainfo hashes = t.info;
    hashes.piece_hashes.pop_back();
    metainfo zero = t.info;
    zero.piece_length = 0;
    for (const metainfo* m : {&gap, &escape, &hashes, &zero}) {
        auto store = piece_store::open(*m, dir_.path(), options());
        ASSERT_FALSE(store);
        EXPECT_TRUE(is(store.error(), storage_errc::bad_layout)) << store.error().message();
    }
}

TEST_P(PieceStore, BlockSpansPointIntoTheMappingsAcrossFiles) {
    const test_torrent t = make_torrent("m", {{"m/a", 100}, {"m/z", 0}, {"m/b", 200}}, 256);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->write_unverified(piece_index{0}, 0, t.piece(0)));
    auto spans = (*store)->block_spans(piece_index{0}, 50, 150);
    if (GetParam() == backend_kind::pread) {
        ASSERT_FALSE(spans);
        EXPECT_TRUE(is(spans.error(), storage_errc::unsupported));
        return;
    }
    ASSERT_TRUE(spans) << spans.error().message();
    ASSERT_EQ(spans->count, 2U);
    EXPECT_EQ(spans->spans[0].size(), 50U);
    EXPECT_EQ(spans->spans[1].size(), 100U);
    std::vector<std::byte> joined;
    for (const auto s : spans->view()) {
        joined.insert(joined.end(), s.begin(), s.end());
    }
    EXPECT_EQ(joined, std::vector<std::byte>(t.content.begin() + 50, t.content.begin() + 200));
}

TEST_P(PieceStore, BlockSpansOverTooManyFilesIsTooFragmented) {
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (int i = 0; i < 10; ++i) {
        files.emplace_back("f/" + std::to_string(i), 100);
    }
    const test_torrent t = make_torrent("f", files, 1000);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    auto spans = (*store)->block_spans(piece_index{0}, 0, 1000);
    ASSERT_FALSE(spans);
    EXPECT_TRUE(is(spans.error(), GetParam() == backend_kind::mmap ? storage_errc::too_fragmented
                                                                   : storage_errc::unsupported));
    auto eight = (*store)->block_spans(piece_index{0}, 0, 800);
    EXPECT_EQ(eight.has_value(), GetParam() == backend_kind::mmap);
}

/// Resident kB of this process's mappings of `file` (/proc/self/smaps), 0 when none is found.
std::uint64_t mapped_resident_kb(const std::filesystem::path& file) {
    std::ifstream smaps("/proc/self/smaps");
    const std::string name = std::filesystem::canonical(file).string();
    std::uint64_t kb = 0;
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
                            line.find('-') != std::string::npos && line.find(':') > line.find(' ');
        if (header) {
            inside = line.size() >= name.size() &&
                     line.compare(line.size() - name.size(), name.size(), name) == 0;
        } else if (inside && line.starts_with("Rss:")) {
            kb += std::stoull(line.substr(4));
        }
    }
    return kb;
}

// Verification reads with pread: a leecher hashes every piece once, and mapping each page for
// it (a fault to set up the entry, an unmap to tear it down) cost more than copying it into a
// small buffer. Only blocks sent to peers are touched through the mapping.
TEST_P(PieceStore, VerifyingPiecesMapsNoneOfTheirPages) {
    const test_torrent t = make_torrent("v", {{"v", std::uint64_t{64} * 4096}},
                                        std::uint64_t{16} * 4096);
    auto store = piece_store::open(t.info, dir_.path(), options());
    ASSERT_TRUE(store);
    download_all(**store, t, 16384);
    ASSERT_TRUE((*store)->have().all());
    EXPECT_EQ(mapped_resident_kb(dir_.path() / "v"), 0U);
    auto reopened = piece_store::open(t.info, dir_.path(), options());  // hashes at open
    ASSERT_TRUE(reopened);
    EXPECT_TRUE((*reopened)->have().all());
    EXPECT_EQ(mapped_resident_kb(dir_.path() / "v"), 0U);
    if (GetParam() == backend_kind::mmap) {
        auto spans = (*reopened)->block_spans(piece_index{1}, 0, 16384);
        ASSERT_TRUE(spans);
        volatile std::byte first = spans->spans[0][0];  // a send touches the mapping
        (void)first;
        EXPECT_GT(mapped_resident_kb(dir_.path() / "v"), 0U);  // what the check above sees
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, PieceStore,
                         ::testing::Values(backend_kind::mmap, backend_kind::pread),
                         [](const ::testing::TestParamInfo<backend_kind>& param_info) {
                             return param_info.param == backend_kind::mmap ? std::string("Mmap")
                                                                           : std::string("Pread");
                         });

}  // namespace
}  // namespace minibit::storage
