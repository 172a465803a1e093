#include "minibit/tracker/info_hash_filter.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <unistd.h>

namespace minibit::tracker {
namespace {

const std::string a_hex = "a9993e364706816aba3e25717850c26c9cd0d89d";
const std::string b_hex = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

TEST(InfoHashFilter, AllowListServesOnlyListedHashes) {
    const auto f = info_hash_filter::parse("# comment\n\n  " + a_hex + "  \r\n",
                                           filter_mode::allow_listed);
    ASSERT_TRUE(f) << f.error().message();
    EXPECT_EQ(f->size(), 1U);
    EXPECT_TRUE(f->allows(*sha1_digest::from_hex(a_hex)));
    EXPECT_FALSE(f->allows(*sha1_digest::from_hex(b_hex)));
}

TEST(InfoHashFilter, DenyListRefusesListedHashes) {
    const auto f = info_hash_filter::parse(a_hex, filter_mode::deny_listed);
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->allows(*sha1_digest::from_hex(a_hex)));
    EXPECT_TRUE(f->allows(*sha1_digest::from_hex(b_hex)));
}

TEST(InfoHashFilter, RejectsABadLineWithItsOffset) {
    const auto f = info_hash_filter::parse(a_hex + "\nxyz\n", filter_mode::allow_listed);
    ASSERT_FALSE(f);
    EXPECT_TRUE(is(f.error(), tracker_errc::bad_list));
    EXPECT_EQ(f.error().offset, 41U);
}

TEST(InfoHashFilter, LoadsAFileAndReportsAMissingOne) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("minibit_filter_test_" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path) << b_hex << "\n";
    const auto f = info_hash_filter::load(path, filter_mode::allow_listed);
    std::filesystem::remove(path);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->allows(*sha1_digest::from_hex(b_hex)));
    const auto missing = info_hash_filter::load(path, filter_mode::allow_listed);
    ASSERT_FALSE(missing);
    EXPECT_TRUE(is(missing.error(), tracker_errc::io));
}

TEST(InfoHashFilter, DefaultAllowsEverything) {
    EXPECT_TRUE(info_hash_filter{}.allows(info_hash{}));
}

}  // namespace
}  // namespace minibit::tracker
