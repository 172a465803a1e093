// Resume: the fast XXH3 path when files are unchanged, full SHA-1 otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "minibit/storage/piece_store.hpp"
#include "test_torrent.hpp"

namespace minibit::storage {
namespace {

using test::make_torrent;
using test::temp_dir;
using test::test_torrent;

/// Four pieces over two files; the second file starts inside piece 1.
test_torrent four_pieces() {
    return make_torrent("res", {{"res/a", 6000}, {"res/b", 9000}}, 4096);
}

/// Opens the torrent, writes and verifies the given pieces, saves the resume data, closes.
void download_pieces(const test_torrent& t, const std::filesystem::path& folder,
                     std::initializer_list<std::uint32_t> pieces) {
    auto store = piece_store::open(t.info, folder);
    ASSERT_TRUE(store) << store.error().message();
    for (const std::uint32_t p : pieces) {
        ASSERT_TRUE((*store)->write_unverified(piece_index{p}, 0, t.piece(p)));
        ASSERT_TRUE(test::verify(**store, piece_index{p}).value_or(false));
    }
    ASSERT_TRUE((*store)->save_resume());
    ASSERT_TRUE((*store)->close());
}

std::vector<std::uint32_t> have_list(const piece_store& store) {
    std::vector<std::uint32_t> out;
    for (std::uint32_t p = 0; p < store.piece_count(); ++p) {
        if (store.have().test(piece_index{p})) {
            out.push_back(p);
        }
    }
    return out;
}

void set_mtime(const std::filesystem::path& p, const timespec& when) {
    const timespec times[2] = {when, when};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

timespec mtime_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mtim;
}

TEST(Resume, ValidResumeFileUsesTheXxh3FastPath) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0, 2});
    EXPECT_TRUE(std::filesystem::exists(dir.path() / ".res.minibit-resume"));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / ".res.minibit-resume.tmp"));
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 2U);
    EXPECT_EQ((*store)->stats().sha1_checked, 0U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0, 2}));
}

TEST(Resume, ChangedMtimeDisablesTheResumeFile) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0, 2});
    set_mtime(dir.path() / "res/b", timespec{1'000'000, 0});
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0, 2}));
}

TEST(Resume, ChangedSizeDisablesTheResumeFile) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {1, 3});
    std::filesystem::resize_file(dir.path() / "res/a", 5000);  // piece 1 loses its head
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{3}));
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "res/a"), 6000U);
}

TEST(Resume, DataChangedUnderAnUnchangedMtimeFailsTheXxh3CheckThenSha1) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0, 2});
    const std::filesystem::path a = dir.path() / "res/a";
    const timespec before = mtime_of(a);
    {
        std::fstream f(a, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.put('x' == static_cast<char>(t.content[100]) ? 'y' : 'x');
    }
    set_mtime(a, before);
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 2U);
    EXPECT_EQ((*store)->stats().sha1_checked, 1U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{2}));
}

TEST(Resume, WithoutAResumeFileFindsTheValidPieces) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    std::filesystem::create_directories(dir.path() / "res");
    std::vector<std::byte> content = t.content;
    content[4096 + 10] ^= std::byte{0xFF};  // piece 1 corrupt
    {
        std::ofstream a(dir.path() / "res/a", std::ios::binary);
        a.write(reinterpret_cast<const char*>(content.data()), 6000);
        std::ofstream b(dir.path() / "res/b", std::ios::binary);
        b.write(reinterpret_cast<const char*>(content.data() + 6000), 9000);
    }
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0, 2, 3}));
}

TEST(Resume, AStoreThatIsNotDurableWritesNoResumeFileAndReopensByHashing) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    store_options throwaway;
    throwaway.durable = false;
    throwaway.state_dir = dir.path() / "state";
    {
        auto store = piece_store::open(t.info, dir.path(), throwaway);
        ASSERT_TRUE(store) << store.error().message();
        for (const std::uint32_t p : {0U, 2U}) {
            ASSERT_TRUE((*store)->write_unverified(piece_index{p}, 0, t.piece(p)));
            ASSERT_TRUE(test::verify(**store, piece_index{p}).value_or(false));
        }
        ASSERT_TRUE((*store)->save_resume());
        ASSERT_TRUE((*store)->close());
    }
    // No resume file anywhere, but the verified data stays.
    EXPECT_FALSE(std::filesystem::exists(dir.path() / ".res.minibit-resume"));
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "state"));
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0, 2}));
}

TEST(Resume, AStoreThatIsNotDurableIgnoresAnExistingResumeFile) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0, 2});
    const std::filesystem::path resume = dir.path() / ".res.minibit-resume";
    const auto before = std::filesystem::last_write_time(resume);
    store_options throwaway;
    throwaway.durable = false;
    auto store = piece_store::open(t.info, dir.path(), throwaway);
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);  // hashed, not trusted
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0, 2}));
    ASSERT_TRUE((*store)->write_unverified(piece_index{1}, 0, t.piece(1)));
    ASSERT_TRUE(test::verify(**store, piece_index{1}).value_or(false));
    ASSERT_TRUE((*store)->save_resume());
    // The durable download's resume file is left as it was (it still claims 0 and 2 only).
    EXPECT_EQ(std::filesystem::last_write_time(resume), before);
}

TEST(Resume, MalformedResumeFileIsIgnored) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0, 1, 2, 3});
    const std::filesystem::path resume = dir.path() / ".res.minibit-resume";
    const auto size = std::filesystem::file_size(resume);
    {
        std::fstream f(resume, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(size / 2));
        f.put('\x5A');
        f.put('\xA5');
    }
    auto store = piece_store::open(t.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_TRUE((*store)->have().all());
}

TEST(Resume, ResumeFileOfAnotherTorrentIsIgnored) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    download_pieces(t, dir.path(), {0});
    test_torrent other = four_pieces();
    other.info.hash = sha1(std::string_view("another torrent"));
    auto store = piece_store::open(other.info, dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 0U);
    EXPECT_EQ((*store)->stats().sha1_checked, 4U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{0}));
}

TEST(Resume, SaveResumeWritesToTheConfiguredPath) {
    temp_dir dir;
    const test_torrent t = four_pieces();
    const std::filesystem::path custom = dir.path() / "state.resume";
    store_options opts;
    opts.resume_path = custom;
    {
        auto store = piece_store::open(t.info, dir.path() / "data", opts);
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->write_unverified(piece_index{3}, 0, t.piece(3)));
        ASSERT_TRUE(test::verify(**store, piece_index{3}).value_or(false));
        ASSERT_TRUE((*store)->save_resume());
        // 8 magic + 20 hash + 8 counts + 2 * 16 files + 1 bitfield + 4 * 8 digests + 8 checksum
        EXPECT_EQ(std::filesystem::file_size(custom), 109U);
    }
    auto store = piece_store::open(t.info, dir.path() / "data", opts);
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->stats().xxh3_checked, 1U);
    EXPECT_EQ(have_list(**store), (std::vector<std::uint32_t>{3}));
}

}  // namespace
}  // namespace minibit::storage
