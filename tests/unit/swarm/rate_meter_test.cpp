#include "minibit/swarm/rate_meter.hpp"

#include <gtest/gtest.h>

namespace {

using minibit::swarm::rate_meter;
using clock_type = rate_meter::clock;

clock_type::time_point at(double seconds) {
    return clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double>(1000.0 + seconds)));
}

TEST(RateMeter, IsZeroBeforeAnyBytes) {
    const rate_meter m;
    EXPECT_EQ(m.rate(at(0)), 0.0);
    EXPECT_EQ(m.total(), 0U);
}

TEST(RateMeter, YoungMeterDividesByItsAge) {
    rate_meter m;
    m.add(1000, at(0.1));
    m.add(1000, at(1.2));
    EXPECT_DOUBLE_EQ(m.rate(at(1.5)), 1000.0);  // 2000 bytes over 2 seconds of age
    EXPECT_EQ(m.total(), 2000U);
}

TEST(RateMeter, AveragesOverTheFullWindow) {
    rate_meter m;
    for (int s = 0; s < 10; ++s) {
        m.add(500, at(s));
    }
    EXPECT_DOUBLE_EQ(m.rate(at(9.5)), 500.0);
}

TEST(RateMeter, ForgetsBytesOlderThanTheWindow) {
    rate_meter m;
    m.add(10'000, at(0));
    m.add(10, at(1));
    EXPECT_DOUBLE_EQ(m.rate(at(20)), 0.0);
    m.add(5000, at(20));
    EXPECT_DOUBLE_EQ(m.rate(at(20)), 1000.0);  // 5000 bytes over the 5 s window
    EXPECT_EQ(m.total(), 15'010U);
}

TEST(RateMeter, StallDecaysTheRate) {
    rate_meter m;
    for (int s = 0; s < 5; ++s) {
        m.add(1000, at(s));
    }
    EXPECT_DOUBLE_EQ(m.rate(at(4)), 1000.0);
    EXPECT_DOUBLE_EQ(m.rate(at(6)), 600.0);  // seconds 2..4 remain in the window ending at 6
}

}  // namespace
