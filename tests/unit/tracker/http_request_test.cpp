#include "minibit/tracker/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace minibit::tracker {
namespace {

TEST(HttpHead, ParsesTargetAndKeepAlive) {
    const std::string req = "GET /announce?a=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nGET";
    const auto h = parse_http_head(req, {});
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->target, "/announce?a=1");
    EXPECT_EQ(h->persist, keep_alive::yes);
    EXPECT_EQ(h->head_bytes, req.size() - 3);
}

TEST(HttpHead, ClosesForHttp10AndConnectionClose) {
    EXPECT_EQ(parse_http_head("GET / HTTP/1.0\r\n\r\n", {})->persist, keep_alive::no);
    EXPECT_EQ(parse_http_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", {})->persist,
              keep_alive::yes);
    EXPECT_EQ(parse_http_head("GET / HTTP/1.1\r\nconnection: close\r\n\r\n", {})->persist,
              keep_alive::no);
}

struct bad_head_case {
    std::string name;
    std::string head;
    http_errc code;
    std::size_t offset;
};

class HttpHeadRejects : public testing::TestWithParam<bad_head_case> {};

TEST_P(HttpHeadRejects, WithExactCodeAndOffset) {
    http_limits lim;
    lim.max_head_bytes = 64;
    lim.max_headers = 2;
    const auto r = parse_http_head(GetParam().head, lim);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), GetParam().code)) << r.error().message();
    EXPECT_EQ(r.error().offset, GetParam().offset);
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpHeadRejects,
    testing::Values(
        bad_head_case{"Incomplete", "GET / HTTP/1.1\r\n", http_errc::incomplete, 16},
        bad_head_case{"TooLarge", "GET /" + std::string(70, 'a'), http_errc::too_large, 64},
        bad_head_case{"TooManyHeaders", "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n",
                      http_errc::too_many_headers, 28},
        bad_head_case{"Post", "POST / HTTP/1.1\r\n\r\n", http_errc::bad_method, 0},
        bad_head_case{"Http2", "GET / HTTP/2.0\r\n\r\n", http_errc::bad_request_line, 6},
        bad_head_case{"NoTarget", "GET  HTTP/1.1\r\n\r\n", http_errc::bad_request_line, 0},
        bad_head_case{"HeaderWithoutColon", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", http_errc::bad_header, 16},
        bad_head_case{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", http_errc::bad_header, 16},
        bad_head_case{"Body", "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", http_errc::has_body, 16},
        bad_head_case{"Chunked", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", http_errc::has_body,
                      16}),
    [](const testing::TestParamInfo<bad_head_case>& i) { return i.param.name; });

}  // namespace
}  // namespace minibit::tracker
