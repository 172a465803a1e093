#include "minibit/swarm/torrent_stats.hpp"

#include <gtest/gtest.h>

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
