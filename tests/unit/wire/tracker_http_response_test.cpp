#include "minibit/wire/tracker_http.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::wire {
namespace {

announce_response sample_response() {
    announce_response r;
    r.interval = 1800;
    r.min_interval = 60;
    r.complete = 3;
    r.incomplete = 7;
    r.peers4 = {127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0x00, 0x50};
    return r;
}

TEST(AnnounceResponse, EncodesCompactPeersWithSortedKeys) {
    EXPECT_EQ(encode_announce_response(sample_response(), peer_list_format::compact),
              std::string("d8:completei3e10:incompletei7e8:intervali1800e12:min intervali60e"
                          "5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x01\x02\x03\x00\x50"
                          "e",
                          88));
}

TEST(AnnounceResponse, EncodesPeers6AfterPeers) {
    announce_response r;
    r.interval = 30;
    r.peers6.assign(18, 0);
    r.peers6[15] = 1;
    r.peers6[16] = 0x1a;
    r.peers6[17] = 0xe1;
    const std::string enc = encode_announce_response(r, peer_list_format::compact);
    EXPECT_EQ(enc.substr(0, 53), "d8:completei0e10:incompletei0e8:intervali30e5:peers0:");
    EXPECT_EQ(enc.substr(53, 11), "6:peers618:");
    EXPECT_EQ(enc.size(), 53U + 11U + 18U + 1U);
}

TEST(AnnounceResponse, EncodesDictionariesWhenCompactIsOff) {
    announce_response r = sample_response();
    r.min_interval.reset();
    r.peers6.assign(18, 0);
    r.peers6[0] = 0x20;
    r.peers6[1] = 0x01;
    r.peers6[15] = 1;
    r.peers6[17] = 80;
    EXPECT_EQ(encode_announce_response(r, peer_list_format::dictionaries),
              "d8:completei3e10:incompletei7e8:intervali1800e5:peersl"
              "d2:ip9:127.0.0.14:porti6881ee"
              "d2:ip8:10.1.2.34:porti80ee"
              "d2:ip39:2001:0000:0000:0000:0000:0000:0000:00014:porti80ee"
              "ee");
}

TEST(AnnounceResponse, CarriesWarningMessageLast) {
    announce_response r;
    r.warning_message = "slow down";
    const std::string enc = encode_announce_response(r, peer_list_format::compact);
    EXPECT_EQ(enc.substr(enc.size() - 30), "15:warning message9:slow downe");
}

TEST(ScrapeResponse, SortsAndDeduplicatesRawHashKeys) {
    std::vector<scrape_entry> e(3);
    e[0].hash.bytes.fill(0xbb);
    e[0].complete = 1;
    e[0].downloaded = 2;
    e[0].incomplete = 3;
    e[1].hash.bytes.fill(0xaa);
    e[2] = e[0];
    const std::string enc = encode_scrape_response(e);
    const std::string aa(20, '\xaa');
    const std::string bb(20, '\xbb');
    EXPECT_EQ(enc, "d5:filesd20:" + aa + "d8:completei0e10:downloadedi0e10:incompletei0ee" +
                       "20:" + bb + "d8:completei1e10:downloadedi2e10:incompletei3eeee");
}

TEST(ScrapeResponse, EncodesEmptyFilesDict) {
    EXPECT_EQ(encode_scrape_response({}), "d5:filesdee");
}

TEST(FailureResponse, EncodesTheReason) {
    EXPECT_EQ(encode_failure_response("bad info_hash"), "d14:failure reason13:bad info_hashe");
}

}  // namespace
}  // namespace minibit::wire
