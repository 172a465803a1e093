#include "minibit/tracker/stats.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace minibit::tracker {
namespace {

using std::chrono::milliseconds;

TEST(TrackerStats, JsonCarriesTotalsRatesAndErrorsByName) {
    tracker_stats s;
    const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    s.tick(t0);
    for (int i = 0; i < 3; ++i) s.count(protocol::udp, request_kind::announce);
    s.count(protocol::http, request_kind::scrape);
    s.count(error_kind::timeout);
    s.connections(+2);
    s.tick(t0 + milliseconds(2000));
    const std::string text = s.to_json(table_totals{4, 10, 3}, std::chrono::seconds(42));
    ASSERT_TRUE(text.ends_with("}\n")) << text;
    const auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["torrents"], 4);
    EXPECT_EQ(j["peers"], 10);
    EXPECT_EQ(j["seeders"], 3);
    EXPECT_EQ(j["leechers"], 7);
    EXPECT_EQ(j["uptime_seconds"], 42);
    EXPECT_EQ(j["http_connections"], 2);
    EXPECT_EQ(j["requests"]["udp"]["announce"]["total"], 3);
    EXPECT_DOUBLE_EQ(j["requests"]["udp"]["announce"]["per_second"].get<double>(), 1.5);
    EXPECT_DOUBLE_EQ(j["requests"]["http"]["scrape"]["per_second"].get<double>(), 0.5);
    EXPECT_EQ(j["requests"]["http"]["connect"]["total"], 0);
    EXPECT_EQ(j["errors"]["timeout"], 1);
    EXPECT_EQ(j["errors"].size(), error_kind_count);
    // Field order as before the switch to a JSON library: totals first, then requests, errors.
    EXPECT_EQ(text.find("{\"torrents\":4,\"peers\":10,"), 0U) << text;
    EXPECT_LT(text.find("\"requests\""), text.find("\"errors\""));
}

}  // namespace
}  // namespace minibit::tracker
