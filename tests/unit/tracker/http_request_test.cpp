#include "minibit/tracker/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace minibit::tracker {
namespace {

using wire::http_connection;
using wire::http_errc;

TEST(TrackerRequest, ParsesTargetAndKeepAlive) {
    const std::string req = "GET /announce?a=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nGET";
    const auto h = parse_tracker_request(req, {});
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->target, "/announce?a=1");
    EXPECT_EQ(h->persist, http_connection::keep_alive);
    EXPECT_EQ(h->head_bytes, req.size() - 3);
}

TEST(TrackerRequest, ClosesForHttp10AndConnectionClose) {
    EXPECT_EQ(parse_tracker_request("GET / HTTP/1.0\r\n\r\n", {})->persist, http_connection::close);
    EXPECT_EQ(
        parse_tracker_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", {})->persist,
        http_connection::keep_alive);
    EXPECT_EQ(parse_tracker_request("GET / HTTP/1.1\r\nconnection: close\r\n\r\n", {})->persist,
              http_connection::close);
}

TEST(TrackerRequest, AcceptsAnEmptyContentLength) {
    EXPECT_TRUE(parse_tracker_request("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", {}));
}

struct bad_request_case {
    std::string name;
    std::string head;
    error code;  ///< domain and code only
    std::size_t offset;
};

template <class E>
error code_of(E e) {
    return make_error(e, "");
}

class TrackerRequestRejects : public testing::TestWithParam<bad_request_case> {};

TEST_P(TrackerRequestRejects, WithExactCodeAndOffset) {
    wire::http_limits lim;
    lim.max_head_bytes = 128;
    lim.max_headers = 2;
    const auto r = parse_tracker_request(GetParam().head, lim);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().domain, GetParam().code.domain) << r.error().message();
    EXPECT_EQ(r.error().code, GetParam().code.code) << r.error().message();
    EXPECT_EQ(r.error().offset, GetParam().offset);
}

INSTANTIATE_TEST_SUITE_P(
    Table, TrackerRequestRejects,
    testing::Values(
        bad_request_case{"Post", "POST / HTTP/1.1\r\n\r\n", code_of(request_errc::bad_method), 0},
        bad_request_case{"Body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                         code_of(request_errc::has_body), 25},
        bad_request_case{"Chunked", "GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
                         code_of(request_errc::has_body), 16},
        bad_request_case{"Incomplete", "GET / HTTP/1.1\r\n", code_of(http_errc::incomplete), 16},
        bad_request_case{"TooLarge", "GET /" + std::string(200, 'a'), code_of(http_errc::too_large),
                         128},
        bad_request_case{"TooManyHeaders", "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n",
                         code_of(http_errc::too_many_headers), 28},
        bad_request_case{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                         code_of(http_errc::bad_header), 20},
        bad_request_case{
            "Smuggling",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            code_of(http_errc::conflicting_framing), 35}),
    [](const testing::TestParamInfo<bad_request_case>& i) { return i.param.name; });

}  // namespace
}  // namespace minibit::tracker
