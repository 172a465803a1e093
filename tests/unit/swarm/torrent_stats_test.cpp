#include "minibit/swarm/torrent_stats.hpp"

#include <gtest/gtest.h>

namespace {

using minibit::swarm::message_name;
using minibit::swarm::to_json;
using minibit::swarm::torrent_stats;

TEST(TorrentStats, NamesEveryKnownMessageId) {
    EXPECT_EQ(message_name(0), "choke");
    EXPECT_EQ(message_name(7), "piece");
    EXPECT_EQ(message_name(14), "have_all");
    EXPECT_EQ(message_name(16), "reject");
    EXPECT_EQ(message_name(20), "extended");
    EXPECT_EQ(message_name(10), "unknown");
}

TEST(TorrentStats, JsonListsOnlyMessagesThatOccurred) {
    torrent_stats s;
    s.messages_sent[6] = 12;
    s.messages_received[7] = 12;
    s.payload_bytes_down = 196'608;
    s.piece_count = 3;
    s.pieces_have = 3;
    const std::string json = to_json(s);
    EXPECT_NE(json.find(R"("messages_sent":{"request":12})"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("messages_received":{"piece":12})"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("payload_bytes_down":196608)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("seconds_to_complete":null})"), std::string::npos) << json;
    EXPECT_EQ(json.front(), '{');
    EXPECT_EQ(json.back(), '}');
}

TEST(TorrentStats, JsonCarriesTimeToComplete) {
    torrent_stats s;
    s.seconds_to_complete = 1.5;
    EXPECT_NE(to_json(s).find(R"("seconds_to_complete":1.500})"), std::string::npos);
}

}  // namespace
