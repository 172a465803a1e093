#include "minibit/core/bencode.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace minibit {
namespace {

using namespace std::string_view_literals;

bvalue list_of(std::vector<bvalue> items) {
    return bvalue(bvalue::list_type(std::move(items)));
}

bvalue dict_of(bvalue::dict_type entries) {
    return bvalue(std::move(entries));
}

// ---- Rejections: exact code and byte offset -------------------------------------------------

struct bad_case {
    const char* name;
    std::string input;
    bencode_errc code;
    std::size_t offset;
};

void PrintTo(const bad_case& c, std::ostream* os) {
    *os << c.name;
}

class BencodeRejects : public ::testing::TestWithParam<bad_case> {};

TEST_P(BencodeRejects, WithExactCodeAndOffset) {
    const bad_case& c = GetParam();
    const auto r = bdecode(c.input);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_TRUE(is(r.error(), c.code)) << c.name << ": " << r.error().message();
    EXPECT_EQ(r.error().domain, "bencode");
    ASSERT_TRUE(r.error().offset.has_value()) << c.name;
    EXPECT_EQ(*r.error().offset, c.offset) << c.name << ": " << r.error().message();
    EXPECT_FALSE(r.error().reason.empty());
}

const bad_case bad_cases[] = {
    {"Empty", "", bencode_errc::unexpected_end, 0},
    {"LeadingZero", "i03e", bencode_errc::bad_integer, 1},
    {"LeadingZeroNegative", "i-03e", bencode_errc::bad_integer, 1},
    {"NegativeZero", "i-0e", bencode_errc::bad_integer, 1},
    {"EmptyInteger", "ie", bencode_errc::bad_integer, 1},
    {"MinusOnly", "i-e", bencode_errc::bad_integer, 2},
    {"PlusSign", "i+5e", bencode_errc::bad_integer, 1},
    {"DoubleMinus", "i--5e", bencode_errc::bad_integer, 2},
    {"SpaceInInteger", "i1 2e", bencode_errc::bad_integer, 2},
    {"HexInteger", "i0x10e", bencode_errc::bad_integer, 2},
    {"IntegerUnterminated", "i42", bencode_errc::unexpected_end, 3},
    {"IntegerOnlyI", "i", bencode_errc::unexpected_end, 1},
    {"Overflow", "i9223372036854775808e", bencode_errc::integer_overflow, 19},
    {"NegativeOverflow", "i-9223372036854775809e", bencode_errc::integer_overflow, 20},
    {"HugeOverflow", "i99999999999999999999999e", bencode_errc::integer_overflow, 19},
    {"StringLengthLeadingZero", "01:a", bencode_errc::bad_string_length, 0},
    {"StringLengthNoColon", "3abc", bencode_errc::bad_string_length, 1},
    {"StringTruncated", "5:abc", bencode_errc::unexpected_end, 5},
    {"StringLengthTruncated", "12", bencode_errc::unexpected_end, 2},
    {"StringLengthTenToFifteen", "1000000000000000:abc", bencode_errc::string_too_long, 0},
    {"StringLengthEndlessDigits", std::string(4000, '9'), bencode_errc::string_too_long, 0},
    {"NestedStringTooLong", "l99999999999:xe", bencode_errc::string_too_long, 1},
    {"UnexpectedByte", "x", bencode_errc::unexpected_byte, 0},
    {"TopLevelEnd", "e", bencode_errc::unexpected_byte, 0},
    {"ListUnterminated", "li1e", bencode_errc::unexpected_end, 4},
    {"DictUnterminated", "d1:ai1e", bencode_errc::unexpected_end, 7},
    {"DictKeyWithoutValue", "d1:ae", bencode_errc::unexpected_byte, 4},
    {"DictIntegerKey", "di1ei2ee", bencode_errc::key_not_string, 1},
    {"DictListKey", "dle1:ae", bencode_errc::key_not_string, 1},
    {"DictUnsortedKeys", "d1:bi1e1:ai2ee", bencode_errc::unsorted_key, 7},
    {"DictDuplicateKeys", "d1:ai1e1:ai2ee", bencode_errc::duplicate_key, 7},
    {"DictKeysCompareAsUnsignedBytes", "d1:\x80i1e1:ai2ee", bencode_errc::unsorted_key, 7},
    {"DictPrefixKeyAfterLonger", "d2:abi1e1:ai2ee", bencode_errc::unsorted_key, 8},
    {"TrailingBytes", "i1ei2e", bencode_errc::trailing_bytes, 3},
    {"TrailingNewline", "de\n", bencode_errc::trailing_bytes, 2},
    {"NestingBomb", std::string(100000, 'l'), bencode_errc::too_deep, 64},
    {"DictNestingBomb",
     [] {
         std::string s;
         for (int i = 0; i < 70; ++i) s += "d1:a";
         return s;
     }(),
     bencode_errc::too_deep, 256},
};

INSTANTIATE_TEST_SUITE_P(Table, BencodeRejects, ::testing::ValuesIn(bad_cases),
                         [](const auto& p) { return std::string(p.param.name); });

// ---- Acceptance: exact values ------------------------------------------------------------------

struct good_case {
    const char* name;
    std::string input;
    bvalue expected;
};

void PrintTo(const good_case& c, std::ostream* os) {
    *os << c.name;
}

class BencodeDecodes : public ::testing::TestWithParam<good_case> {};

TEST_P(BencodeDecodes, ToExactValueAndReencodesCanonically) {
    const good_case& c = GetParam();
    const auto r = bdecode(c.input);
    ASSERT_TRUE(r.has_value()) << c.name << ": " << r.error().message();
    EXPECT_EQ(*r, c.expected) << c.name;
    EXPECT_EQ(r->raw(), c.input) << c.name;
    EXPECT_EQ(bencode(*r), c.input) << c.name;  // every accepted input here is canonical
}

const good_case good_cases[] = {
    {"Zero", "i0e", bvalue(0)},
    {"Positive", "i42e", bvalue(42)},
    {"Negative", "i-42e", bvalue(-42)},
    {"Int64Max", "i9223372036854775807e", bvalue(std::numeric_limits<std::int64_t>::max())},
    {"Int64Min", "i-9223372036854775808e", bvalue(std::numeric_limits<std::int64_t>::min())},
    {"EmptyString", "0:", bvalue("")},
    {"String", "4:spam", bvalue("spam")},
    {"BinaryString", std::string("3:\0\xff\x01", 5), bvalue(std::string("\0\xff\x01", 3))},
    {"StringWithColonsAndDigits", "5:1:e:i", bvalue("1:e:i")},
    {"EmptyList", "le", bvalue::make_list()},
    {"EmptyDict", "de", bvalue::make_dict()},
    {"List", "l4:spami42ee", list_of({bvalue("spam"), bvalue(42)})},
    {"Dict", "d3:bar4:spam3:fooi42ee", dict_of({{"bar", bvalue("spam")}, {"foo", bvalue(42)}})},
    {"EmptyKey", "d0:i1ee", dict_of({{"", bvalue(1)}})},
    {"NestedListsAtDepth64", std::string(64, 'l') + std::string(64, 'e'),
     [] {
         bvalue v = bvalue::make_list();
         for (int i = 1; i < 64; ++i) v = list_of({v});
         return v;
     }()},
    {"Mixed", "d1:ald1:bi-1eee1:c0:e",
     dict_of({{"a", list_of({dict_of({{"b", bvalue(-1)}})})}, {"c", bvalue("")}})},
};

INSTANTIATE_TEST_SUITE_P(Table, BencodeDecodes, ::testing::ValuesIn(good_cases),
                         [](const auto& p) { return std::string(p.param.name); });

// ---- Limits ------------------------------------------------------------------------------------

TEST(Bencode, RejectsInputAboveInputLimit) {
    bencode_limits lim;
    lim.max_input_bytes = 4;
    const auto r = bdecode("5:abcde", lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), bencode_errc::input_too_large));
    EXPECT_EQ(r.error().offset, 4U);
    EXPECT_TRUE(bdecode("3:abc", bencode_limits{.max_input_bytes = 5}).has_value());
}

TEST(Bencode, StringLimitIsInclusive) {
    bencode_limits lim;
    lim.max_string_bytes = 3;
    EXPECT_TRUE(bdecode("3:abc", lim).has_value());
    const auto r = bdecode("4:abcd", lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), bencode_errc::string_too_long));
    EXPECT_EQ(r.error().offset, 0U);
}

TEST(Bencode, ZeroStringLimitStillAcceptsEmptyStrings) {
    bencode_limits lim;
    lim.max_string_bytes = 0;
    EXPECT_TRUE(bdecode("0:", lim).has_value());
    EXPECT_TRUE(is(bdecode("1:a", lim).error(), bencode_errc::string_too_long));
}

TEST(Bencode, CountsEveryElementIncludingKeys) {
    bencode_limits lim;
    lim.max_elements = 3;  // the dict, one key, one value
    EXPECT_TRUE(bdecode("d1:ai1ee", lim).has_value());
    const auto r = bdecode("li1ei2ei3ee", lim);  // list + 3 ints = 4 elements
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), bencode_errc::too_many_elements));
    EXPECT_EQ(r.error().offset, 7U);
    const auto k = bdecode("d1:ai1e1:bi2ee", lim);  // second key is the 4th element
    ASSERT_FALSE(k);
    EXPECT_TRUE(is(k.error(), bencode_errc::too_many_elements));
    EXPECT_EQ(k.error().offset, 7U);
}

TEST(Bencode, DepthLimitCountsContainersFromOne) {
    bencode_limits lim;
    lim.max_depth = 2;
    EXPECT_TRUE(bdecode("llee", lim).has_value());
    EXPECT_TRUE(bdecode("ld1:ai1eee", lim).has_value());
    const auto r = bdecode("llleee", lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), bencode_errc::too_deep));
    EXPECT_EQ(r.error().offset, 2U);
}

TEST(Bencode, HugeDepthLimitIsCappedSoBombsStillFail) {
    bencode_limits lim;
    lim.max_depth = std::numeric_limits<std::size_t>::max();
    const std::string bomb(2'000'000, 'l');
    const auto r = bdecode(bomb, lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), bencode_errc::too_deep));
    EXPECT_EQ(r.error().offset, bencode_depth_cap);
}

TEST(Bencode, LenientKeyOrderAcceptsUnsortedKeys) {
    bencode_limits lim;
    lim.lenient_key_order = true;
    const auto r = bdecode("d1:bi1e1:ai2ee", lim);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    const auto* d = r->as_dict();
    ASSERT_NE(d, nullptr);
    ASSERT_EQ(d->size(), 2U);
    EXPECT_EQ((*d)[0].first, "b");  // input order is kept
    EXPECT_EQ((*d)[1].first, "a");
    EXPECT_EQ(bencode(*r), "d1:ai2e1:bi1ee");  // the encoder sorts
}

TEST(Bencode, LenientKeyOrderStillRejectsDuplicates) {
    bencode_limits lim;
    lim.lenient_key_order = true;
    const auto adjacent = bdecode("d1:ai1e1:ai2ee", lim);
    ASSERT_FALSE(adjacent);
    EXPECT_TRUE(is(adjacent.error(), bencode_errc::duplicate_key));
    EXPECT_EQ(adjacent.error().offset, 7U);
    const auto apart = bdecode("d1:bi1e1:ai2e1:bi3ee", lim);
    ASSERT_FALSE(apart);
    EXPECT_TRUE(is(apart.error(), bencode_errc::duplicate_key));
    EXPECT_EQ(apart.error().offset, 13U);
}

// ---- Raw spans ---------------------------------------------------------------------------------

TEST(Bencode, RecordsExactRawSpanOfEveryValue) {
    const std::string in = "d1:ai7e4:infod6:lengthi3e4:name1:xe1:zl0:i-1eee";
    const auto r = bdecode(in);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->raw(), in);
    EXPECT_EQ(r->raw().data(), in.data());
    const bvalue* info = r->find("info");
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->raw(), "d6:lengthi3e4:name1:xe");
    EXPECT_EQ(info->raw().data() - in.data(), 13);
    EXPECT_EQ(info->find("length")->raw(), "i3e");
    EXPECT_EQ(info->find("name")->raw(), "1:x");
    const auto* z = r->find("z")->as_list();
    ASSERT_NE(z, nullptr);
    EXPECT_EQ((*z)[0].raw(), "0:");
    EXPECT_EQ((*z)[1].raw(), "i-1e");
    EXPECT_EQ(r->find("a")->raw(), "i7e");
}

TEST(Bencode, FindReturnsNullForMissingKeyOrNonDict) {
    const auto r = bdecode("d1:ai1ee");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->find("b"), nullptr);
    EXPECT_EQ(r->find("a")->find("a"), nullptr);
    const std::int64_t* a = r->find("a")->as_int();
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(r->find("a")->as_string(), nullptr);
}

// ---- Encoder and round trips -------------------------------------------------------------------

TEST(Bencode, EncoderSortsKeysByRawBytes) {
    bvalue d = bvalue::make_dict();
    ASSERT_TRUE(d.insert("zeta", bvalue(1)));
    ASSERT_TRUE(d.insert(std::string("\xc3\xa9", 2), bvalue(2)));
    ASSERT_TRUE(d.insert("Alpha", bvalue(3)));
    ASSERT_TRUE(d.insert("alpha", bvalue(4)));
    ASSERT_TRUE(d.insert("alph", bvalue(5)));
    EXPECT_EQ(bencode(d), "d5:Alphai3e4:alphi5e5:alphai4e4:zetai1e2:\xc3\xa9i2ee");
}

TEST(Bencode, EncodesIntegerExtremes) {
    EXPECT_EQ(bencode(bvalue(std::numeric_limits<std::int64_t>::min())), "i-9223372036854775808e");
    EXPECT_EQ(bencode(bvalue(std::numeric_limits<std::int64_t>::max())), "i9223372036854775807e");
    EXPECT_EQ(bencode(bvalue(0)), "i0e");
}

TEST(Bencode, PushAndInsertRefuseWrongKind) {
    bvalue i(5);
    EXPECT_FALSE(i.push_back(bvalue(1)));
    EXPECT_FALSE(i.insert("k", bvalue(1)));
    bvalue l = bvalue::make_list();
    EXPECT_FALSE(l.insert("k", bvalue(1)));
    EXPECT_TRUE(l.push_back(bvalue(1)));
    EXPECT_EQ(bencode(l), "li1ee");
}

TEST(Bencode, DecodeOfEncodeIsIdentity) {
    bvalue v = dict_of({
        {"list", list_of({bvalue(-7), bvalue(""), bvalue::make_dict(), list_of({bvalue("x")})})},
        {"bin", bvalue(std::string("\0\x01\xfe\xff", 4))},
        {"int", bvalue(std::numeric_limits<std::int64_t>::min())},
        {"a", dict_of({{"nested", bvalue(1)}, {"deeper", list_of({bvalue::make_list()})}})},
    });
    const std::string enc = bencode(v);
    const auto back = bdecode(enc);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    // Dicts compare in entry order: re-encoding both sides compares canonically.
    EXPECT_EQ(bencode(*back), enc);
    const std::int64_t* i = back->find("int")->as_int();
    ASSERT_NE(i, nullptr);
    EXPECT_EQ(*i, std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(*back->find("list"), *v.find("list"));
    EXPECT_EQ(*back->find("bin"), *v.find("bin"));
}

TEST(Bencode, DecodeOfEncodeIsIdentityForSortedValues) {
    const bvalue v = dict_of({{"a", bvalue(1)}, {"b", list_of({bvalue("c"), bvalue(2)})}});
    const auto back = bdecode(bencode(v));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, v);
}

TEST(Bencode, EncodeOfDecodeIsIdentityForCanonicalInputs) {
    const std::string_view inputs[] = {
        "d8:announce20:http://t.example/ann4:infod6:lengthi1048576e4:name5:a.bin"
        "12:piece lengthi262144e6:pieces0:ee"sv,
        "ll0:eli0eei-1ed0:deee"sv,
        "d1:\x01i1e1:\x7fi2e1:\x80i3e1:\xffi4ee"sv,
    };
    for (const auto in : inputs) {
        const auto r = bdecode(in);
        ASSERT_TRUE(r.has_value()) << r.error().message();
        EXPECT_EQ(bencode(*r), in);
    }
}

TEST(Bencode, ErrorMessageNamesDomainAndOffset) {
    const auto r = bdecode("i03e");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "bencode: at byte 1: integer has a leading zero");
}

}  // namespace
}  // namespace minibit
