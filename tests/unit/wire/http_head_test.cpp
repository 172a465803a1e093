#include "minibit/wire/http_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace minibit::wire {
namespace {

using namespace std::string_literals;

/// Small limits so the limit cases stay readable.
http_limits small_limits() {
    http_limits l;
    l.max_head_bytes = 128;
    l.max_headers = 4;
    l.max_body_bytes = 64;
    l.max_chunk_size_digits = 4;
    return l;
}

struct request_case {
    std::string name;
    std::string bytes;
    std::string method;
    std::string target;
    http_version version;
    http_connection persist;
    body_framing framing;
    std::uint64_t content_length;
};

class HttpRequestHeadParses : public testing::TestWithParam<request_case> {};

TEST_P(HttpRequestHeadParses, IntoMethodTargetAndFraming) {
    const auto& c = GetParam();
    const std::string raw = c.bytes + "NEXT";  // the views point into it
    const auto h = parse_http_request(raw, small_limits());
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->method, c.method);
    EXPECT_EQ(h->target, c.target);
    EXPECT_EQ(h->version, c.version);
    EXPECT_EQ(h->persist, c.persist);
    EXPECT_EQ(h->framing, c.framing);
    EXPECT_EQ(h->content_length, c.content_length);
    EXPECT_EQ(h->head_bytes, c.bytes.size());
}

constexpr auto v10 = http_version::http_1_0;
constexpr auto v11 = http_version::http_1_1;
constexpr auto stays = http_connection::keep_alive;
constexpr auto closes = http_connection::close;

INSTANTIATE_TEST_SUITE_P(
    Table, HttpRequestHeadParses,
    testing::Values(
        request_case{"Get", "GET /announce?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/announce?a=1",
                     v11, stays, body_framing::none, 0},
        request_case{"NoHeaders", "GET / HTTP/1.1\r\n\r\n", "GET", "/", v11, stays,
                     body_framing::none, 0},
        request_case{"Http10Closes", "GET / HTTP/1.0\r\n\r\n", "GET", "/", v10, closes,
                     body_framing::none, 0},
        request_case{"Http10KeepAlive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET",
                     "/", v10, stays, body_framing::none, 0},
        request_case{"ConnectionClose", "GET / HTTP/1.1\r\nconnection: close\r\n\r\n", "GET", "/",
                     v11, closes, body_framing::none, 0},
        request_case{"CloseWinsOverKeepAlive",
                     "GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n", "GET", "/", v11,
                     closes, body_framing::none, 0},
        request_case{"PostWithLength", "POST /v1/torrents HTTP/1.1\r\nContent-Length: 12\r\n\r\n",
                     "POST", "/v1/torrents", v11, stays, body_framing::content_length, 12},
        request_case{"ZeroLength", "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "GET", "/", v11,
                     stays, body_framing::content_length, 0},
        request_case{"SameLengthTwice",
                     "PUT /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "PUT",
                     "/x", v11, stays, body_framing::content_length, 5},
        request_case{"Chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", "POST",
                     "/", v11, stays, body_framing::chunked, 0},
        request_case{"ObsTextInValue", "GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n", "GET", "/",
                     v11, stays, body_framing::none, 0},
        request_case{"EmptyValue", "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", "GET", "/", v11, stays,
                     body_framing::none, 0}),
    [](const testing::TestParamInfo<request_case>& i) { return i.param.name; });

struct reject_case {
    std::string name;
    std::string bytes;
    http_errc code;
    std::size_t offset;
};

class HttpRequestHeadRejects : public testing::TestWithParam<reject_case> {};

TEST_P(HttpRequestHeadRejects, WithExactCodeAndOffset) {
    const auto r = parse_http_request(GetParam().bytes, small_limits());
    ASSERT_FALSE(r) << GetParam().bytes;
    EXPECT_TRUE(is(r.error(), GetParam().code)) << r.error().message();
    EXPECT_EQ(r.error().offset, GetParam().offset) << r.error().message();
}

const std::string post = "POST / HTTP/1.1\r\n";  // 17 bytes: the first header line starts here
const std::string get = "GET / HTTP/1.1\r\n";    // 16 bytes

INSTANTIATE_TEST_SUITE_P(
    Table, HttpRequestHeadRejects,
    testing::Values(
        // Request smuggling classics (RFC 9112 sections 2.2, 5.2, 6.1 and 6.3).
        reject_case{"LengthThenChunked",
                    post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                    http_errc::conflicting_framing, 36},
        reject_case{"ChunkedThenLength",
                    post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                    http_errc::conflicting_framing, 45},
        reject_case{"DifferingLengths", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
                    http_errc::bad_content_length, 36},
        reject_case{"LengthList", post + "Content-Length: 5, 5\r\n\r\n",
                    http_errc::bad_content_length, 34},
        reject_case{"NegativeLength", post + "Content-Length: -1\r\n\r\n",
                    http_errc::bad_content_length, 33},
        reject_case{"PlusLength", post + "Content-Length: +5\r\n\r\n",
                    http_errc::bad_content_length, 33},
        reject_case{"EmptyLength", post + "Content-Length: \r\n\r\n", http_errc::bad_content_length,
                    33},
        reject_case{"OverflowingLength", post + "Content-Length: 99999999999999999999\r\n\r\n",
                    http_errc::bad_content_length, 52},
        reject_case{"LengthAboveBodyLimit", post + "Content-Length: 65\r\n\r\n",
                    http_errc::body_too_large, 17},
        reject_case{"ChunkedNotAlone", post + "Transfer-Encoding: gzip, chunked\r\n\r\n",
                    http_errc::bad_transfer_encoding, 36},
        reject_case{"ChunkedTwice",
                    post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                    http_errc::bad_transfer_encoding, 45},
        reject_case{"ChunkedInHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                    http_errc::bad_transfer_encoding, 17},
        reject_case{"ObsFold", get + "X: a\r\n b\r\n\r\n", http_errc::bad_header, 22},
        reject_case{"SpaceBeforeFirstHeader", get + " Host: x\r\n\r\n", http_errc::bad_header, 16},
        reject_case{"SpaceBeforeColon", get + "Host : x\r\n\r\n", http_errc::bad_header, 20},
        reject_case{"TabBeforeColon", get + "Content-Length\t: 5\r\n\r\n", http_errc::bad_header,
                    30},
        reject_case{"BareLfInRequestLine", "GET / HTTP/1.1\nHost: x\r\n\r\n",
                    http_errc::bad_line_ending, 14},
        reject_case{"BareLfBlankLine", get + "Host: x\n\n", http_errc::bad_line_ending, 23},
        reject_case{"BareCrInValue", get + "X: a\rb\r\n\r\n", http_errc::bad_line_ending, 20},
        reject_case{"NulInValue", get + "X: a\0b\r\n\r\n"s, http_errc::bad_header, 20},
        reject_case{"SlashInName", get + "X/Y: 1\r\n\r\n", http_errc::bad_header, 17},
        reject_case{"EmptyName", get + ": x\r\n\r\n", http_errc::bad_header, 16},
        reject_case{"NoColon", get + "nocolon\r\n\r\n", http_errc::bad_header, 16},
        // Start line.
        reject_case{"LeadingBlankLine", "\r\n" + get + "\r\n", http_errc::bad_start_line, 0},
        reject_case{"EmptyMethod", " / HTTP/1.1\r\n\r\n", http_errc::bad_start_line, 0},
        reject_case{"TwoSpaces", "GET  / HTTP/1.1\r\n\r\n", http_errc::bad_start_line, 4},
        reject_case{"NoVersion", "GET /\r\n\r\n", http_errc::bad_start_line, 5},
        reject_case{"ControlInTarget", "GET /a\x01z HTTP/1.1\r\n\r\n", http_errc::bad_start_line,
                    6},
        reject_case{"LowerCaseVersion", "GET / http/1.1\r\n\r\n", http_errc::bad_start_line, 6},
        reject_case{"Http2", "GET / HTTP/2.0\r\n\r\n", http_errc::bad_version, 6},
        reject_case{"TrailingSpace", "GET / HTTP/1.1 \r\n\r\n", http_errc::bad_start_line, 6},
        // Limits and incomplete input.
        reject_case{"Incomplete", get + "Host: x\r\n", http_errc::incomplete, 25},
        reject_case{"TooLarge", "GET /" + std::string(200, 'a'), http_errc::too_large, 128},
        reject_case{"TooManyHeaders", get + "a: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n",
                    http_errc::too_many_headers, 40}),
    [](const testing::TestParamInfo<reject_case>& i) { return i.param.name; });

TEST(HttpRequestHead, HeadersAreViewsInOrderWithWhitespaceTrimmed) {
    const std::string raw = get + "Host:\t 127.0.0.1 \t\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
    const auto h = parse_http_request(raw, {});
    ASSERT_TRUE(h) << h.error().message();
    std::vector<std::pair<std::string, std::string>> seen;
    for (const auto& f : h->headers) seen.emplace_back(f.name, f.value);
    const std::vector<std::pair<std::string, std::string>> want{
        {"Host", "127.0.0.1"}, {"X-A", "1"}, {"x-a", "2"}};
    EXPECT_EQ(seen, want);
    EXPECT_EQ(h->headers.find("HOST"), "127.0.0.1");
    EXPECT_EQ(h->headers.find("x-A"), "1");
    EXPECT_FALSE(h->headers.find("Cookie"));
    EXPECT_GE(h->headers.find("host")->data(), raw.data());
    EXPECT_LT(h->headers.find("host")->data(), raw.data() + raw.size());
}

TEST(HttpRequestHead, EveryStrictPrefixOfAValidHeadIsIncomplete) {
    const std::string raw = post + "Host: a\r\nContent-Length: 3\r\n\r\n";
    for (std::size_t n = 0; n < raw.size(); ++n) {
        const auto r = parse_http_request(raw.substr(0, n), {});
        ASSERT_FALSE(r);
        EXPECT_TRUE(is(r.error(), http_errc::incomplete)) << n << ": " << r.error().message();
    }
    EXPECT_TRUE(parse_http_request(raw, {}));
}

struct response_case {
    std::string name;
    std::string bytes;
    int status;
    std::string reason;
    http_connection persist;
    body_framing framing;
    std::uint64_t content_length;
};

class HttpResponseHeadParses : public testing::TestWithParam<response_case> {};

TEST_P(HttpResponseHeadParses, IntoStatusAndFraming) {
    const auto& c = GetParam();
    const std::string raw = c.bytes + "body";  // the views point into it
    const auto h = parse_http_response(raw, small_limits());
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->status, c.status);
    EXPECT_EQ(h->reason, c.reason);
    EXPECT_EQ(h->persist, c.persist);
    EXPECT_EQ(h->framing, c.framing);
    EXPECT_EQ(h->content_length, c.content_length);
    EXPECT_EQ(h->head_bytes, c.bytes.size());
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpResponseHeadParses,
    testing::Values(response_case{"Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200,
                                  "OK", stays, body_framing::content_length, 5},
                    response_case{"Chunked",
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200,
                                  "OK", stays, body_framing::chunked, 0},
                    response_case{"UntilClose", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", 200, "OK",
                                  closes, body_framing::until_close, 0},
                    response_case{"UntilCloseEvenWithKeepAlive",
                                  "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 200, "OK",
                                  closes, body_framing::until_close, 0},
                    response_case{"NoContent", "HTTP/1.1 204 No Content\r\n\r\n", 204, "No Content",
                                  stays, body_framing::none, 0},
                    response_case{"NotModifiedIgnoresLength",
                                  "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 304,
                                  "Not Modified", stays, body_framing::none, 0},
                    response_case{"NoReason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 404, "",
                                  stays, body_framing::content_length, 0},
                    response_case{"EmptyReason",
                                  "HTTP/1.1 500 \r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
                                  500, "", closes, body_framing::content_length, 1}),
    [](const testing::TestParamInfo<response_case>& i) { return i.param.name; });

class HttpResponseHeadRejects : public testing::TestWithParam<reject_case> {};

TEST_P(HttpResponseHeadRejects, WithExactCodeAndOffset) {
    const auto r = parse_http_response(GetParam().bytes, small_limits());
    ASSERT_FALSE(r) << GetParam().bytes;
    EXPECT_TRUE(is(r.error(), GetParam().code)) << r.error().message();
    EXPECT_EQ(r.error().offset, GetParam().offset) << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, HttpResponseHeadRejects,
    testing::Values(
        reject_case{"NotHttp", "SMTP ready\r\n\r\n", http_errc::bad_start_line, 0},
        reject_case{"Http2", "HTTP/2.0 200 OK\r\n\r\n", http_errc::bad_version, 0},
        reject_case{"TwoDigitStatus", "HTTP/1.1 20 OK\r\n\r\n", http_errc::bad_start_line, 8},
        reject_case{"StatusSix", "HTTP/1.1 600 X\r\n\r\n", http_errc::bad_start_line, 8},
        reject_case{"NoSpaceAfterStatus", "HTTP/1.1 200OK\r\n\r\n", http_errc::bad_start_line, 12},
        reject_case{"ControlInReason", "HTTP/1.1 200 O\x01K\r\n\r\n", http_errc::bad_start_line,
                    14},
        reject_case{"LengthAndChunked",
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                    http_errc::conflicting_framing, 36},
        reject_case{"Endless", "HTTP/1.1 200 OK\r\n" + std::string(200, 'x'), http_errc::too_large,
                    128}),
    [](const testing::TestParamInfo<reject_case>& i) { return i.param.name; });

struct chunked_case {
    std::string name;
    std::string bytes;
    std::string payload;   ///< expected output (when no error)
    std::size_t consumed;  ///< expected bytes consumed (when no error)
    std::optional<http_errc> code;
    std::size_t offset = 0;
};

/// Feeds `bytes` in pieces of `step` bytes (0 = all at once) until done, an error, or the end.
struct fed {
    std::string out;
    std::size_t consumed = 0;
    result<void> status;
    bool done = false;
};
fed feed_in_steps(std::string_view bytes, std::size_t step) {
    http_body_decoder d(body_framing::chunked, 0, small_limits());
    fed f;
    while (f.consumed < bytes.size() && !d.done()) {
        const std::size_t n = step == 0 ? bytes.size() : std::min(step, bytes.size() - f.consumed);
        const auto r = d.feed(bytes.substr(f.consumed, n), f.out);
        if (!r) {
            f.status = std::unexpected(r.error());
            return f;
        }
        f.consumed += *r;
        if (*r < n) break;
    }
    f.done = d.done();
    return f;
}

class ChunkedBody : public testing::TestWithParam<chunked_case> {};

TEST_P(ChunkedBody, DecodesTheSameWhateverTheArrivalPieces) {
    const auto& c = GetParam();
    for (const std::size_t step : {0, 1, 2, 7}) {
        const fed f = feed_in_steps(c.bytes, step);
        if (c.code) {
            ASSERT_FALSE(f.status) << "step " << step;
            EXPECT_TRUE(is(f.status.error(), *c.code)) << f.status.error().message();
            EXPECT_EQ(f.status.error().offset, c.offset) << "step " << step;
        } else {
            ASSERT_TRUE(f.status) << "step " << step << ": " << f.status.error().message();
            EXPECT_TRUE(f.done);
            EXPECT_EQ(f.out, c.payload) << "step " << step;
            EXPECT_EQ(f.consumed, c.consumed) << "step " << step;
        }
    }
}

const std::string wiki = "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, ChunkedBody,
    testing::Values(
        chunked_case{"TwoChunks", wiki, "Wikipedia", wiki.size(), {}},
        chunked_case{
            "StopsAtTheNextMessage", wiki + "GET / HTTP/1.1", "Wikipedia", wiki.size(), {}},
        chunked_case{"Extensions", "4;name=\"v\"\r\nWiki\r\n0 ; last\r\n\r\n", "Wiki", 30, {}},
        chunked_case{
            "Trailers", "4\r\nWiki\r\n0\r\nExpires: never\r\nX: y\r\n\r\n", "Wiki", 36, {}},
        chunked_case{"UpperCaseHex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20, {}},
        chunked_case{
            "LeadingZerosWithinTheDigitLimit", "0004\r\nWiki\r\n0\r\n\r\n", "Wiki", 17, {}},
        chunked_case{"TooManyDigits", "00004\r\nWiki\r\n", "", 0, http_errc::bad_chunk, 4},
        chunked_case{"HugeChunkSize", "ffffffffffffffffffff\r\n", "", 0, http_errc::body_too_large,
                     1},
        chunked_case{"ChunkAboveBodyLimit", "41\r\n", "", 0, http_errc::body_too_large, 1},
        chunked_case{"BodyLimitAcrossChunks", "20\r\n" + std::string(32, 'a') + "\r\n21\r\n", "", 0,
                     http_errc::body_too_large, 39},
        chunked_case{"NegativeSize", "-1\r\nx\r\n", "", 0, http_errc::bad_chunk, 0},
        chunked_case{"HexPrefix", "0x10\r\n", "", 0, http_errc::bad_chunk, 1},
        chunked_case{"MissingSize", "\r\nWiki\r\n", "", 0, http_errc::bad_chunk, 0},
        chunked_case{"DataLongerThanSize", "3\r\nabcd\r\n0\r\n\r\n", "", 0, http_errc::bad_chunk,
                     6},
        chunked_case{"BareLfAfterSize", "4\nWiki", "", 0, http_errc::bad_line_ending, 1},
        chunked_case{"CrWithoutLf", "4\rWiki", "", 0, http_errc::bad_line_ending, 2},
        chunked_case{"BareLfAfterData", "4\r\nWiki\n0\r\n\r\n", "", 0, http_errc::bad_line_ending,
                     7},
        chunked_case{"BareLfAfterTrailer", "0\r\nX: y\n\r\n", "", 0, http_errc::bad_line_ending, 7},
        chunked_case{"ControlInExtension", "4;a\x01\r\n", "", 0, http_errc::bad_chunk, 3},
        chunked_case{"EndlessExtension", "4;" + std::string(200, 'a'), "", 0, http_errc::bad_chunk,
                     129}),
    [](const testing::TestParamInfo<chunked_case>& i) { return i.param.name; });

TEST(ChunkedBody, EndOfStreamInsideTheBodyIsTruncated) {
    http_body_decoder d(body_framing::chunked, 0, {});
    std::string out;
    ASSERT_EQ(d.feed("4\r\nWi", out).value(), 5U);
    const auto r = d.finish();
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), http_errc::truncated_body));
    EXPECT_EQ(r.error().offset, 5U);
}

TEST(ChunkedBody, AnErrorIsFinal) {
    http_body_decoder d(body_framing::chunked, 0, {});
    std::string out;
    ASSERT_FALSE(d.feed("zz\r\n", out));
    const auto again = d.feed("4\r\nWiki\r\n0\r\n\r\n", out);
    ASSERT_FALSE(again);
    EXPECT_TRUE(is(again.error(), http_errc::bad_chunk));
    EXPECT_FALSE(d.done());
    EXPECT_FALSE(d.finish());
}

TEST(LengthBody, TakesExactlyContentLengthBytes) {
    http_body_decoder d(body_framing::content_length, 5, {});
    std::string out;
    EXPECT_EQ(d.feed("abc", out).value(), 3U);
    EXPECT_FALSE(d.done());
    EXPECT_FALSE(d.finish());
    EXPECT_EQ(d.feed("defGET", out).value(), 2U);
    EXPECT_TRUE(d.done());
    EXPECT_EQ(out, "abcde");
    EXPECT_EQ(d.payload_bytes(), 5U);
}

TEST(LengthBody, RefusesALengthAboveTheLimit) {
    http_body_decoder d(body_framing::content_length, 65, small_limits());
    std::string out;
    const auto r = d.feed("x", out);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), http_errc::body_too_large));
}

TEST(CloseDelimitedBody, EndsAtEndOfStreamAndIsBounded) {
    http_body_decoder d(body_framing::until_close, 0, small_limits());
    std::string out;
    EXPECT_EQ(d.feed(std::string(40, 'a'), out).value(), 40U);
    EXPECT_FALSE(d.done());
    const auto over = d.feed(std::string(30, 'b'), out);
    ASSERT_FALSE(over);
    EXPECT_TRUE(is(over.error(), http_errc::body_too_large));
    EXPECT_EQ(over.error().offset, 64U);

    http_body_decoder ok(body_framing::until_close, 0, small_limits());
    std::string body;
    EXPECT_EQ(ok.feed("d1:ai1ee", body).value(), 8U);
    EXPECT_TRUE(ok.finish());
    EXPECT_TRUE(ok.done());
    EXPECT_EQ(body, "d1:ai1ee");
}

TEST(NoBody, IsDoneAtOnceAndConsumesNothing) {
    const auto h = parse_http_request("GET / HTTP/1.1\r\n\r\n", {});
    ASSERT_TRUE(h);
    http_body_decoder d(*h, {});
    std::string out;
    EXPECT_TRUE(d.done());
    EXPECT_EQ(d.feed("GET / HTTP/1.1", out).value(), 0U);
}

TEST(HttpTokens, MatchCaseInsensitiveListMembersOnly) {
    EXPECT_TRUE(http_has_token("Upgrade, CLOSE", "close"));
    EXPECT_TRUE(http_has_token(" close ", "close"));
    EXPECT_FALSE(http_has_token("closed", "close"));
    EXPECT_FALSE(http_has_token("", "close"));
}

}  // namespace
}  // namespace minibit::wire
