#include "minibit/swarm/torrent_stats.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string_view>
#include <utility>
#include <vector>

namespace {

using minibit::swarm::message_name;
using minibit::swarm::to_json;
using minibit::swarm::torrent_stats;

TEST(TorrentStats, NamesEveryKnownMessageId) {
    // BEP 3 (0-9), BEP 6 (13-17), BEP 10 (20): all 16 ids the engine counts.
    const std::vector<std::pair<std::size_t, std::string_view>> known = {
        {0, "choke"},      {1, "unchoke"},  {2, "interested"},    {3, "not_interested"},
        {4, "have"},       {5, "bitfield"}, {6, "request"},       {7, "piece"},
        {8, "cancel"},     {9, "port"},     {13, "suggest"},      {14, "have_all"},
        {15, "have_none"}, {16, "reject"},  {17, "allowed_fast"}, {20, "extended"},
    };
    ASSERT_EQ(known.size(), 16U);
    for (const auto& [id, name] : known) {
        EXPECT_EQ(message_name(id), name) << "id " << id;
    }
    for (const std::size_t id : {10U, 11U, 12U, 18U, 19U, 21U, 255U}) {
        EXPECT_EQ(message_name(id), "unknown") << "id " << id;
    }
}

TEST(TorrentStats, JsonListsOnlyMessagesThatOccurred) {
    torrent_stats s;
    s.messages_sent[6] = 12;
    s.messages_received[7] = 12;
    s.payload_bytes_down = 196'608;
    s.piece_count = 3;
    s.pieces_have = 3;
    const std::string text = to_json(s);
    const auto json = nlohmann::json::parse(text);
    EXPECT_EQ(json["messages_sent"], nlohmann::json({{"request", 12}})) << text;
    EXPECT_EQ(json["messages_received"], nlohmann::json({{"piece", 12}})) << text;
    EXPECT_EQ(json["payload_bytes_down"], 196'608) << text;
    EXPECT_EQ(json["pieces_have"], 3) << text;
    EXPECT_TRUE(json["seconds_to_complete"].is_null()) << text;
    // Every counter is present, zero or not, and the object starts with the message tables.
    EXPECT_EQ(json.size(), 25U) << text;
    EXPECT_EQ(text.rfind(R"({"messages_sent":{"request":12},"messages_received":)", 0), 0U) << text;
}

TEST(TorrentStats, JsonCarriesTimeToComplete) {
    torrent_stats s;
    s.seconds_to_complete = 1.5;
    EXPECT_EQ(nlohmann::json::parse(to_json(s))["seconds_to_complete"], 1.5);
}

TEST(TorrentStats, JsonCarriesTimeToFirstBlockOnlyOnceOneArrived) {
    torrent_stats s;
    EXPECT_FALSE(nlohmann::json::parse(to_json(s)).contains("seconds_to_first_block"));
    s.seconds_to_first_block = 0.01234;
    EXPECT_DOUBLE_EQ(nlohmann::json::parse(to_json(s))["seconds_to_first_block"].get<double>(),
                     0.0123);
}

TEST(TorrentStats, JsonRoundsRatesAndTimesAsBefore) {
    torrent_stats s;
    s.download_rate = 1234.5678;
    s.upload_rate = 0.04;
    s.seconds_running = 2.00049;
    s.seconds_to_complete = 1.23456;
    const auto json = nlohmann::json::parse(to_json(s));
    EXPECT_DOUBLE_EQ(json["download_rate"].get<double>(), 1234.6);
    EXPECT_DOUBLE_EQ(json["upload_rate"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(json["seconds_running"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(json["seconds_to_complete"].get<double>(), 1.235);
}

}  // namespace
