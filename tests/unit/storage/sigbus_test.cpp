// A file truncated underneath a live mapping: errors as values, never a SIGBUS crash.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "minibit/storage/piece_store.hpp"
#include "test_torrent.hpp"

namespace minibit::storage {
namespace {

using test::make_torrent;
using test::temp_dir;
using test::test_torrent;

class Truncation : public ::testing::TestWithParam<backend_kind> {};

TEST_P(Truncation, TruncatedFileGivesFaultErrorsNotACrash) {
    temp_dir dir;
    const test_torrent t = make_torrent("tr", {{"tr/a", 3000}, {"tr/b", 70000}}, 16384);
    auto store = piece_store::open(t.info, dir.path(), test::options_for(GetParam()));
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->write_unverified(piece_index{2}, 0, t.piece(2)));
    ASSERT_TRUE(test::verify(**store, piece_index{2}).value_or(false));
    ASSERT_EQ(::truncate((dir.path() / "tr/b").c_str(), 0), 0);

    std::vector<std::byte> out(16384);
    auto read = (*store)->read_block(piece_index{2}, 0, out);
    ASSERT_FALSE(read);
    EXPECT_TRUE(is(read.error(), storage_errc::fault));
    EXPECT_NE(read.error().reason.find("tr/b was truncated"), std::string::npos)
        << read.error().reason;
    auto verify = test::verify(**store, piece_index{2});
    ASSERT_FALSE(verify);
    EXPECT_TRUE(is(verify.error(), storage_errc::fault));
    if (GetParam() == backend_kind::mmap) {
        // The pread back end's pwrite simply extends the file again; the mmap one refuses a
        // write into a file cut short (its reads and sends come from the mapping) and leaves
        // the file as it found it.
        auto write = (*store)->write_unverified(piece_index{3}, 0, t.piece(3));
        ASSERT_FALSE(write);
        EXPECT_TRUE(is(write.error(), storage_errc::fault));
        EXPECT_NE(write.error().reason.find("tr/b was truncated"), std::string::npos)
            << write.error().reason;
        EXPECT_EQ(std::filesystem::file_size(dir.path() / "tr/b"), 0U);
    }
    // The untouched first file still works.
    std::vector<std::byte> head(100);
    EXPECT_TRUE((*store)->read_block(piece_index{0}, 0, head));
}

TEST_P(Truncation, TruncatedFileDropsOnlyThePiecesItNoLongerHolds) {
    temp_dir dir;
    const test_torrent t = make_torrent("drop", {{"drop", 4 * 16384}}, 16384);
    auto store = piece_store::open(t.info, dir.path(), test::options_for(GetParam()));
    ASSERT_TRUE(store);
    for (std::uint32_t p = 0; p < 4; ++p) {
        ASSERT_TRUE((*store)->write_unverified(piece_index{p}, 0, t.piece(p)));
        ASSERT_TRUE(test::verify(**store, piece_index{p}).value_or(false));
    }
    EXPECT_TRUE((*store)->drop_pieces_not_on_disk().empty());
    // One byte short of the end: the last page is still mapped, its tail would read as zeros.
    ASSERT_EQ(::truncate((dir.path() / "drop").c_str(), 4 * 16384 - 1), 0);
    if (GetParam() == backend_kind::mmap) {
        auto spans = (*store)->block_spans(piece_index{3}, 0, 16384);
        ASSERT_FALSE(spans);
        EXPECT_TRUE(is(spans.error(), storage_errc::fault));
        EXPECT_NE(spans.error().reason.find("was truncated to 65535 bytes"), std::string::npos)
            << spans.error().reason;
        EXPECT_TRUE((*store)->block_spans(piece_index{2}, 0, 16384));
    }
    EXPECT_EQ((*store)->drop_pieces_not_on_disk(), std::vector<piece_index>{piece_index{3}});
    ASSERT_EQ(::truncate((dir.path() / "drop").c_str(), 16384 + 100), 0);
    EXPECT_EQ((*store)->drop_pieces_not_on_disk(),
              (std::vector<piece_index>{piece_index{1}, piece_index{2}}));
    EXPECT_EQ((*store)->have().count(), 1U);
    EXPECT_TRUE((*store)->have().test(piece_index{0}));
    std::vector<std::byte> out(16384);
    EXPECT_TRUE((*store)->read_block(piece_index{0}, 0, out));
}

INSTANTIATE_TEST_SUITE_P(Backends, Truncation,
                         ::testing::Values(backend_kind::mmap, backend_kind::pread),
                         [](const ::testing::TestParamInfo<backend_kind>& param_info) {
                             return param_info.param == backend_kind::mmap ? std::string("Mmap")
                                                                           : std::string("Pread");
                         });

/// Touches a page beyond the end of a file through a mapping of our own, outside any guard.
void fault_outside_the_guard(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::ftruncate(fd, 4096) != 0) {
        std::_Exit(2);
    }
    void* m = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED || ::ftruncate(fd, 0) != 0) {
        std::_Exit(3);
    }
    volatile const char* c = static_cast<const char*>(m);
    std::_Exit(*c);  // SIGBUS here
}

TEST(TruncationDeathTest, SigbusOutsideStorageStillKillsTheProcess) {
    // "fast" style: the child is forked here (no re-run of the body), so the parent's
    // temp_dir cleans up after it. The process has one thread, as fast style needs.
    GTEST_FLAG_SET(death_test_style, "fast");
    temp_dir dir;
    const test_torrent t = make_torrent("d", {{"d", 100}}, 64);
    auto store = piece_store::open(t.info, dir.path());  // installs the handler
    ASSERT_TRUE(store);
    std::vector<std::byte> out(10);
    ASSERT_TRUE((*store)->read_block(piece_index{0}, 0, out));
    // Killed by SIGBUS; under AddressSanitizer its own (chained) handler reports and exits 1.
    const auto died_of_sigbus = [](int status) {
        return (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
               (WIFEXITED(status) && WEXITSTATUS(status) == 1);
    };
    EXPECT_EXIT(fault_outside_the_guard(dir.path() / "other"), died_of_sigbus, "");
}

}  // namespace
}  // namespace minibit::storage
