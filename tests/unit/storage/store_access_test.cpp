// What the piece store may do to a user's files (issue 11): read_only (seed) opens complete data
// and changes nothing, refusing short, long or missing files; read_write (get) creates and grows
// only the torrent's files inside its folder, never through a symbolic link, and a store that
// ends without a verified piece leaves the folder as it found it. Real files; both back ends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>

#include "minibit/storage/piece_store.hpp"
#include "test_torrent.hpp"

namespace minibit::storage {
namespace {

namespace fs = std::filesystem;
using test::make_torrent;
using test::temp_dir;
using test::test_torrent;

/// Every entry below `root` (links not followed) with, for files, size and mtime.
std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> snapshot(const fs::path& root) {
    std::map<std::string, std::pair<std::uintmax_t, std::int64_t>> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st {};
        ::lstat(it->path().c_str(), &st);
        const auto mtime = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
        const bool file = S_ISREG(st.st_mode);
        out[fs::relative(it->path(), root).string()] = {
            file ? static_cast<std::uintmax_t>(st.st_size) : 0, file ? mtime : 0};
    }
    return out;
}

/// Writes `bytes` of the torrent stream [from, from + bytes) to path (folders created).
void write_part(const fs::path& path, const test_torrent& t, std::size_t from, std::size_t bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(t.content.data() + from),
               static_cast<std::streamsize>(bytes));
}

/// Two files over five pieces: "two/a" 9000 bytes, "two/sub/b" 11000 bytes.
test_torrent two_files() {
    return make_torrent("two", {{"two/a", 9000}, {"two/sub/b", 11000}}, 4096);
}

/// A complete copy of two_files() under folder.
void complete_copy(const fs::path& folder, const test_torrent& t) {
    write_part(folder / "two/a", t, 0, 9000);
    write_part(folder / "two/sub/b", t, 9000, 11000);
}

class StoreAccess : public ::testing::TestWithParam<backend_kind> {
protected:
    [[nodiscard]] store_options read_only() const {
        store_options o = test::options_for(GetParam());
        o.access = access_mode::read_only;
        o.state_dir = dir_.path() / "state";
        return o;
    }
    [[nodiscard]] store_options read_write() const {
        store_options o = test::options_for(GetParam());
        o.state_dir = dir_.path() / "state";
        return o;
    }
    temp_dir dir_;
};

TEST_P(StoreAccess, ReadOnlyOpenOfReadOnlyFilesFindsEveryPieceAndWritesNothingBesideThem) {
    const test_torrent t = two_files();
    const fs::path data = dir_.path() / "data";
    complete_copy(data, t);
    fs::permissions(data / "two/a", fs::perms::owner_read | fs::perms::group_read);
    fs::permissions(data / "two/sub/b", fs::perms::owner_read | fs::perms::group_read);
    const auto before = snapshot(data);
    {
        auto store = piece_store::open(t.info, data, read_only());
        ASSERT_TRUE(store) << store.error().message();
        EXPECT_TRUE((*store)->have().all());
        EXPECT_EQ((*store)->stats().sha1_checked, 5U);
        std::vector<std::byte> out(4096);
        ASSERT_TRUE((*store)->read_block(piece_index{2}, 0, out));
        EXPECT_EQ(out, t.piece(2));
        auto write = (*store)->write_unverified(piece_index{0}, 0, t.piece(0));
        ASSERT_FALSE(write);
        EXPECT_TRUE(is(write.error(), storage_errc::read_only));
        ASSERT_TRUE((*store)->save_resume());
        ASSERT_TRUE((*store)->close());
    }
    EXPECT_EQ(snapshot(data), before);
    EXPECT_TRUE(fs::exists(dir_.path() / "state" / (t.info.hash.hex() + ".resume")));
    EXPECT_EQ(fs::status(dir_.path() / "state").permissions() & fs::perms::all,
              fs::perms::owner_all);
    // The next start trusts the state folder's resume data: XXH3 only.
    auto again = piece_store::open(t.info, data, read_only());
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_TRUE((*again)->have().all());
    EXPECT_EQ((*again)->stats().xxh3_checked, 5U);
    EXPECT_EQ((*again)->stats().sha1_checked, 0U);
}

TEST_P(StoreAccess, ReadOnlyOpenRefusesAShortFileNamingBothSizesAndChangesNothing) {
    const test_torrent t = two_files();
    const fs::path data = dir_.path() / "data";
    complete_copy(data, t);
    fs::resize_file(data / "two/sub/b", 5500);
    const auto before = snapshot(data);
    auto store = piece_store::open(t.info, data, read_only());
    ASSERT_FALSE(store);
    EXPECT_TRUE(is(store.error(), storage_errc::wrong_file));
    EXPECT_EQ(store.error().reason, (data / "two/sub/b").string() +
                                        " is 5500 bytes, expected 11000 (not a complete copy)");
    EXPECT_EQ(snapshot(data), before);
    EXPECT_FALSE(fs::exists(dir_.path() / "state"));
}

TEST_P(StoreAccess, ReadOnlyOpenRefusesMissingAndLongerFiles) {
    const test_torrent t = two_files();
    const fs::path data = dir_.path() / "data";
    write_part(data / "two/a", t, 0, 9000);
    auto missing = piece_store::open(t.info, data, read_only());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().reason, (data / "two/sub/b").string() + " is missing");
    EXPECT_FALSE(fs::exists(data / "two/sub"));
    write_part(data / "two/sub/b", t, 9000, 11000);
    std::ofstream(data / "two/a", std::ios::app) << "x";
    auto longer = piece_store::open(t.info, data, read_only());
    ASSERT_FALSE(longer);
    EXPECT_TRUE(is(longer.error(), storage_errc::wrong_file));
    EXPECT_EQ(fs::file_size(data / "two/a"), 9001U);
}

TEST_P(StoreAccess, ReadOnlyOpenTrustsAResumeFileThatAGetLeftBesideTheData) {
    const test_torrent t = two_files();
    const fs::path data = dir_.path() / "data";
    {
        auto get = piece_store::open(t.info, data, read_write());
        ASSERT_TRUE(get) << get.error().message();
        for (std::uint32_t p = 0; p < 5; ++p) {
            ASSERT_TRUE((*get)->write_unverified(piece_index{p}, 0, t.piece(p)));
            ASSERT_TRUE(test::verify(**get, piece_index{p}).value_or(false));
        }
        ASSERT_TRUE((*get)->save_resume());
    }
    EXPECT_TRUE(fs::exists(data / ".two.minibit-resume"));
    EXPECT_FALSE(fs::exists(dir_.path() / "state"));
    auto seed = piece_store::open(t.info, data, read_only());
    ASSERT_TRUE(seed) << seed.error().message();
    EXPECT_EQ((*seed)->stats().xxh3_checked, 5U);
    EXPECT_TRUE((*seed)->have().all());
}

TEST_P(StoreAccess, ResumeDataGoesToTheStateFolderWhenItCannotGoBesideTheData) {
    const test_torrent t = two_files();
    const fs::path data = dir_.path() / "data";
    fs::create_directories(data / ".two.minibit-resume");  // a folder in its place: rename fails
    {
        auto store = piece_store::open(t.info, data, read_write());
        ASSERT_TRUE(store) << store.error().message();
        ASSERT_TRUE((*store)->write_unverified(piece_index{4}, 0, t.piece(4)));
        ASSERT_TRUE(test::verify(**store, piece_index{4}).value_or(false));
        ASSERT_TRUE((*store)->save_resume());
    }
    EXPECT_TRUE(fs::exists(dir_.path() / "state" / (t.info.hash.hex() + ".resume")));
    auto again = piece_store::open(t.info, data, read_write());
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)->stats().xxh3_checked, 1U);
    EXPECT_TRUE((*again)->have().test(piece_index{4}));
}

TEST_P(StoreAccess, ReadWriteFollowsNoSymbolicLinkInsideTheFolder) {
    const test_torrent t = two_files();
    const fs::path out = dir_.path() / "out";
    const fs::path elsewhere = dir_.path() / "elsewhere";
    fs::create_directories(elsewhere);
    fs::create_directories(out);
    fs::create_directory_symlink(elsewhere, out / "two");  // the torrent's top folder
    auto top = piece_store::open(t.info, out, read_write());
    ASSERT_FALSE(top);
    EXPECT_TRUE(is(top.error(), storage_errc::unsafe_path)) << top.error().message();
    EXPECT_TRUE(fs::is_empty(elsewhere));
    fs::remove(out / "two");
    fs::create_directories(out / "two");
    std::ofstream(elsewhere / "victim") << "short";
    fs::create_symlink(elsewhere / "victim", out / "two/a");  // one of its files
    auto file = piece_store::open(t.info, out, read_write());
    ASSERT_FALSE(file);
    EXPECT_TRUE(is(file.error(), storage_errc::unsafe_path)) << file.error().message();
    EXPECT_EQ(fs::file_size(elsewhere / "victim"), 5U);
    EXPECT_FALSE(fs::exists(out / "two/sub"));
}

TEST_P(StoreAccess, ReadWriteRefusesAFileWhereAFolderBelongsAndTheReverse) {
    const test_torrent t = two_files();
    const fs::path out = dir_.path() / "out";
    fs::create_directories(out / "two");
    std::ofstream(out / "two/sub") << "not a folder";
    auto file_for_folder = piece_store::open(t.info, out, read_write());
    ASSERT_FALSE(file_for_folder);
    EXPECT_EQ(file_for_folder.error().reason,
              (out / "two/sub").string() + " is a file where the torrent has a folder");
    EXPECT_FALSE(fs::exists(out / "two/a"));
    fs::remove(out / "two/sub");
    fs::create_directories(out / "two/a");
    auto folder_for_file = piece_store::open(t.info, out, read_write());
    ASSERT_FALSE(folder_for_file);
    EXPECT_EQ(folder_for_file.error().reason,
              (out / "two/a").string() + " is a folder where the torrent has a file");
    EXPECT_FALSE(fs::exists(out / "two/sub"));
}

TEST_P(StoreAccess, ReadWriteCreatesTheFolderOnlyWhenItsParentExists) {
    const test_torrent t = two_files();
    auto deep = piece_store::open(t.info, dir_.path() / "no/such/out", read_write());
    ASSERT_FALSE(deep);
    EXPECT_TRUE(is(deep.error(), storage_errc::wrong_file));
    EXPECT_EQ(deep.error().reason, "cannot create output folder " +
                                       (dir_.path() / "no/such/out").string() + ": " +
                                       (dir_.path() / "no/such").string() + " does not exist");
    EXPECT_FALSE(fs::exists(dir_.path() / "no"));
    std::ofstream(dir_.path() / "plain") << "x";
    auto under_file = piece_store::open(t.info, dir_.path() / "plain/out", read_write());
    ASSERT_FALSE(under_file);
    EXPECT_NE(under_file.error().reason.find("plain is not a folder"), std::string::npos)
        << under_file.error().reason;
    auto is_file = piece_store::open(t.info, dir_.path() / "plain", read_write());
    ASSERT_FALSE(is_file);
    EXPECT_EQ(is_file.error().reason,
              "output folder " + (dir_.path() / "plain").string() + " is not a folder");
}

TEST_P(StoreAccess, ReadWriteIntoAnUnwritableFolderSaysSoBeforeLookingAtFreeSpace) {
    // /proc/sys refuses new files to everyone, root included, and statvfs says 0 bytes free.
    const test_torrent t = two_files();
    auto store = piece_store::open(t.info, "/proc/sys", read_write());
    ASSERT_FALSE(store);
    EXPECT_TRUE(is(store.error(), storage_errc::not_writable)) << store.error().message();
    EXPECT_EQ(store.error().reason.rfind("output folder /proc/sys is not writable: ", 0), 0U)
        << store.error().reason;
}

TEST_P(StoreAccess, StoreEndingWithoutAVerifiedPieceLeavesTheFolderAsFound) {
    const test_torrent t = two_files();
    const fs::path out = dir_.path() / "out";
    fs::create_directories(out / "two");
    write_part(out / "two/a", t, 0, 3000);  // a short file the store must grow
    const timespec old_time[2] = {{1'000'000, 0}, {1'000'000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (out / "two/a").c_str(), old_time, 0), 0);
    const auto before = snapshot(dir_.path());
    {
        auto store = piece_store::open(t.info, out, read_write());
        ASSERT_TRUE(store) << store.error().message();
        EXPECT_EQ(fs::file_size(out / "two/a"), 9000U);
        EXPECT_TRUE(fs::exists(out / "two/sub/b"));
        ASSERT_TRUE((*store)->write_unverified(piece_index{3}, 0, t.piece(3)));  // never verified
        ASSERT_TRUE((*store)->save_resume());
    }
    EXPECT_EQ(snapshot(dir_.path()), before);
    EXPECT_FALSE(fs::exists(out / ".two.minibit-resume"));
}

TEST_P(StoreAccess, StoreWithAVerifiedPieceKeepsItsFilesAndResumeData) {
    const test_torrent t = two_files();
    const fs::path out = dir_.path() / "new";
    {
        auto store = piece_store::open(t.info, out, read_write());
        ASSERT_TRUE(store) << store.error().message();
        ASSERT_TRUE((*store)->write_unverified(piece_index{1}, 0, t.piece(1)));
        ASSERT_TRUE(test::verify(**store, piece_index{1}).value_or(false));
        ASSERT_TRUE((*store)->save_resume());
    }
    EXPECT_EQ(fs::file_size(out / "two/a"), 9000U);
    EXPECT_EQ(fs::file_size(out / "two/sub/b"), 11000U);
    EXPECT_TRUE(fs::exists(out / ".two.minibit-resume"));
}

TEST_P(StoreAccess, OpenThatFailsHalfwayRemovesWhatItCreated) {
    // The second file cannot reach its length (RLIMIT_FSIZE: EFBIG) after the first was made.
    const test_torrent t = two_files();
    const fs::path out = dir_.path() / "out";
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = 10000;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    auto store = piece_store::open(t.info, out, read_write());
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().reason.find("two/sub/b"), std::string::npos) << store.error().reason;
    EXPECT_FALSE(fs::exists(out));
}

// A multi-file torrent's files belong in <folder>/<name>/; a copy laid out flat in the folder (as
// MiniBit once wrote them) is recognised so callers can say so, and a download beside it goes
// into <name>/ and leaves the flat copy as it was.
TEST_P(StoreAccess, FlatCopyIsRecognisedAndLeftAloneByADownloadIntoTheTopFolder) {
    test_torrent t = two_files();
    t.info.multi_file = true;
    const fs::path data = dir_.path() / "data";
    write_part(data / "a", t, 0, 9000);
    write_part(data / "sub/b", t, 9000, 11000);
    EXPECT_TRUE(flat_layout_found(t.info, data));
    EXPECT_FALSE(flat_layout_found(t.info, dir_.path() / "elsewhere"));
    fs::remove(data / "sub/b");
    EXPECT_FALSE(flat_layout_found(t.info, data)) << "only a complete flat copy counts";
    write_part(data / "sub/b", t, 9000, 11000);
    const auto before = snapshot(data);
    auto store = piece_store::open(t.info, data, read_write());
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ((*store)->have().count(), 0U) << "nothing is taken from the flat copy";
    ASSERT_TRUE((*store)->close());
    EXPECT_EQ(snapshot(data), before) << "the failed start removed two/ again";
    complete_copy(data, t);
    EXPECT_FALSE(flat_layout_found(t.info, data)) << "two/ exists: not the flat layout";
    test_torrent single = make_torrent("one.bin", {{"one.bin", 100}}, 64);
    write_part(data / "one.bin", single, 0, 100);
    EXPECT_FALSE(flat_layout_found(single.info, data));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreAccess,
                         ::testing::Values(backend_kind::mmap, backend_kind::pread),
                         [](const ::testing::TestParamInfo<backend_kind>& param_info) {
                             return param_info.param == backend_kind::mmap ? std::string("Mmap")
                                                                           : std::string("Pread");
                         });

}  // namespace
}  // namespace minibit::storage
