#include "minibit/swarm/tracker_url.hpp"

#include <gtest/gtest.h>

#include "minibit/swarm/torrent_options.hpp"
#include "minibit/wire/http_head.hpp"

namespace {

using minibit::is;
using namespace minibit::swarm;

struct url_case {
    const char* text;
    tracker_scheme scheme;
    const char* host;
    std::uint16_t port;
    const char* target;
};

class TrackerUrlParses : public testing::TestWithParam<url_case> {};

TEST_P(TrackerUrlParses, IntoSchemeHostPortTarget) {
    const url_case& c = GetParam();
    auto u = parse_tracker_url(c.text);
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->scheme, c.scheme);
    EXPECT_EQ(u->host, c.host);
    EXPECT_EQ(u->port, c.port);
    EXPECT_EQ(u->target, c.target);
}

INSTANTIATE_TEST_SUITE_P(
    Urls, TrackerUrlParses,
    testing::Values(url_case{"http://127.0.0.1:6969/announce", tracker_scheme::http, "127.0.0.1",
                             6969, "/announce"},
                    url_case{"http://tracker.example/announce?key=1", tracker_scheme::http,
                             "tracker.example", 80, "/announce?key=1"},
                    url_case{"http://[::1]:8080/a", tracker_scheme::http, "::1", 8080, "/a"},
                    url_case{"http://host:1?x=y", tracker_scheme::http, "host", 1, "/?x=y"},
                    url_case{"udp://127.0.0.1:6969", tracker_scheme::udp, "127.0.0.1", 6969, "/"},
                    url_case{"udp://tracker.example:1337/announce", tracker_scheme::udp,
                             "tracker.example", 1337, "/announce"}));

class TrackerUrlRejects : public testing::TestWithParam<const char*> {};

TEST_P(TrackerUrlRejects, WithBadTrackerUrl) {
    auto u = parse_tracker_url(GetParam());
    ASSERT_FALSE(u);
    EXPECT_TRUE(is(u.error(), swarm_errc::bad_tracker_url)) << u.error().message();
}

INSTANTIATE_TEST_SUITE_P(Urls, TrackerUrlRejects,
                         testing::Values("https://secure.example/announce", "udp://nohost",
                                         "udp://host:0", "http://host:70000/", "http:///announce",
                                         "http://[::1/announce", "wss://x:1"));

TEST(HttpResponse, NeedsMoreUntilContentLengthArrives) {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    EXPECT_EQ(http_response_progress(head + "abc").value(), http_progress::need_more);
    EXPECT_EQ(http_response_progress(head + "abcde").value(), http_progress::complete);
    EXPECT_EQ(http_response_body(head + "abcde", 100).value(), "abcde");
}

TEST(HttpResponse, DecodesChunkedBodies) {
    const std::string raw =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nd8:i\r\n3;x=y\r\nnte\r\n0\r\n\r\n";
    EXPECT_EQ(http_response_progress(raw.substr(0, raw.size() - 5)).value(),
              http_progress::need_more);
    EXPECT_EQ(http_response_progress(raw).value(), http_progress::complete);
    EXPECT_EQ(http_response_body(raw, 100).value(), "d8:inte");
}

TEST(HttpResponse, BodyWithoutLengthEndsAtEndOfStream) {
    const std::string raw = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nd1:ai1ee";
    EXPECT_EQ(http_response_progress(raw).value(), http_progress::need_more);
    EXPECT_EQ(http_response_body(raw, 100).value(), "d1:ai1ee");
}

TEST(HttpResponse, RejectsNon200Status) {
    auto b = http_response_body("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 100);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), swarm_errc::tracker_failed));
    EXPECT_EQ(b.error().reason, "HTTP status 404");
}

TEST(HttpResponse, RejectsOversizedBodies) {
    auto b = http_response_body("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 10);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), minibit::wire::http_errc::body_too_large)) << b.error().message();
    EXPECT_EQ(b.error().offset, 17U);
    const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto c = http_response_body(chunked + "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", 10);
    ASSERT_FALSE(c);
    EXPECT_TRUE(is(c.error(), minibit::wire::http_errc::body_too_large)) << c.error().message();
    auto d = http_response_progress(chunked + "zz\r\n");
    ASSERT_FALSE(d);
    EXPECT_TRUE(is(d.error(), minibit::wire::http_errc::bad_chunk)) << d.error().message();
}

TEST(HttpResponse, RejectsAmbiguousFraming) {
    auto b = http_response_progress(
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), minibit::wire::http_errc::conflicting_framing))
        << b.error().message();
}

TEST(HttpResponse, RejectsABodyCutShort) {
    auto b = http_response_body("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nd1:a", 100);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), minibit::wire::http_errc::truncated_body)) << b.error().message();
    auto c = http_response_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nd1:a",
                                100);
    ASSERT_FALSE(c);
    EXPECT_TRUE(is(c.error(), minibit::wire::http_errc::truncated_body)) << c.error().message();
}

TEST(HttpResponse, RejectsGarbageStatusLine) {
    auto b = http_response_progress("SMTP ready\r\n\r\n");
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), minibit::wire::http_errc::bad_start_line)) << b.error().message();
    EXPECT_EQ(b.error().offset, 0U);
}

TEST(HttpResponse, RejectsEndlessHeaders) {
    const std::string raw = "HTTP/1.1 200 OK\r\n" + std::string(20000, 'x');
    auto b = http_response_progress(raw);
    ASSERT_FALSE(b);
    EXPECT_TRUE(is(b.error(), minibit::wire::http_errc::too_large)) << b.error().message();
    EXPECT_EQ(b.error().offset, 16384U);
}

}  // namespace
