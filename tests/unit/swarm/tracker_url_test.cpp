#include "minibit/swarm/tracker_url.hpp"

#include <gtest/gtest.h>

#include "minibit/swarm/torrent_options.hpp"

namespace {

using minibit::is;
using namespace minibit::swarm;

struct url_case {
    const char* text;
    tracker_scheme scheme;
    const char* host;
    std::uint16_t port;
};

class TrackerUrlParses : public testing::TestWithParam<url_case> {};

TEST_P(TrackerUrlParses, IntoSchemeHostAndPort) {
    const url_case& c = GetParam();
    auto u = parse_tracker_url(c.text);
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->scheme, c.scheme);
    EXPECT_EQ(u->host, c.host);
    EXPECT_EQ(u->port, c.port);
}

INSTANTIATE_TEST_SUITE_P(
    Urls, TrackerUrlParses,
    testing::Values(
        url_case{"http://127.0.0.1:6969/announce", tracker_scheme::http, "127.0.0.1", 6969},
        url_case{"http://tracker.example/announce?key=1", tracker_scheme::http, "tracker.example",
                 80},
        url_case{"https://tracker.example/announce", tracker_scheme::https, "tracker.example", 443},
        url_case{"https://127.0.0.1:8443/a?x=y", tracker_scheme::https, "127.0.0.1", 8443},
        url_case{"http://[::1]:8080/a", tracker_scheme::http, "::1", 8080},
        url_case{"http://host:1?x=y", tracker_scheme::http, "host", 1},
        url_case{"udp://127.0.0.1:6969", tracker_scheme::udp, "127.0.0.1", 6969},
        url_case{"udp://tracker.example:1337/announce", tracker_scheme::udp, "tracker.example",
                 1337},
        url_case{"udp://[::1]:1337/announce", tracker_scheme::udp, "::1", 1337}));

class TrackerUrlRejects : public testing::TestWithParam<const char*> {};

TEST_P(TrackerUrlRejects, WithBadTrackerUrl) {
    auto u = parse_tracker_url(GetParam());
    ASSERT_FALSE(u);
    EXPECT_TRUE(is(u.error(), swarm_errc::bad_tracker_url)) << u.error().message();
}

INSTANTIATE_TEST_SUITE_P(Urls, TrackerUrlRejects,
                         testing::Values("ftp://files.example/announce", "udp://nohost",
                                         "udp://host:0", "http://host:70000/", "http:///announce",
                                         "http://[::1/announce", "wss://x:1", "notaurl",
                                         "http://exa mple/announce"));

}  // namespace
