// Byte counts and rates in the units a person reads: the unit changes with the size, three
// significant digits, no "1150000.0 KiB/s".
#include "minibit/core/human_units.hpp"

#include <gtest/gtest.h>

namespace {

using minibit::format_bytes;
using minibit::format_rate;
using minibit::parse_bytes;

TEST(HumanUnits, BytesPickTheLargestUnitThatKeepsTheValueAboveOne) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(512), "512 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.00 KiB");
    EXPECT_EQ(format_bytes(10486), "10.2 KiB");
    EXPECT_EQ(format_bytes(1U << 20U), "1.00 MiB");
    EXPECT_EQ(format_bytes(256ULL << 20U), "256 MiB");
    EXPECT_EQ(format_bytes(3584ULL << 20U), "3.50 GiB");
}

TEST(HumanUnits, RoundingUpToTheNextUnitShowsThatUnit) {
    EXPECT_EQ(format_bytes(1023 * 1024 + 1000), "1.00 MiB");  // not "1024 KiB"
    EXPECT_EQ(format_bytes(1047552), "1.00 MiB");
}

TEST(HumanUnits, RatesOfATenGigabitHostReadInGiBPerSecond) {
    EXPECT_EQ(format_rate(1150000.0 * 1024), "1.10 GiB/s");
    EXPECT_EQ(format_rate(117.5 * 1024 * 1024), "118 MiB/s");
    EXPECT_EQ(format_rate(640 * 1024), "640 KiB/s");
    EXPECT_EQ(format_rate(0), "0 B/s");
    EXPECT_EQ(format_rate(-5), "0 B/s");
}

TEST(HumanUnits, ByteCountsParseWithBinaryAndDecimalSuffixes) {
    EXPECT_EQ(parse_bytes("4194304"), 4194304U);
    EXPECT_EQ(parse_bytes("4MiB"), 4194304U);
    EXPECT_EQ(parse_bytes("4 MiB/s"), 4194304U);
    EXPECT_EQ(parse_bytes("1.5M"), 1572864U);
    EXPECT_EQ(parse_bytes("500kB"), 500000U);
    EXPECT_EQ(parse_bytes("64K"), 65536U);
    EXPECT_EQ(parse_bytes("0"), 0U);
}

TEST(HumanUnits, MalformedByteCountsAreRefused) {
    for (const char* bad :
         {"", "MiB", "-1", "4 XB", "4MiBs", "1.", ".5M", "4  MiB", "1e3", "99999999999T"}) {
        EXPECT_FALSE(parse_bytes(bad).has_value()) << bad;
    }
}

}  // namespace
