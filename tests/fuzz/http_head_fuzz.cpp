// Fuzz target: the HTTP/1.x codec (wire/http_head.hpp). The input is parsed as a request head
// and as a response head (small limits), and the bytes after a head (or the whole input) are fed
// to the body decoder, chunked and by the head's own framing, once whole and once in pieces
// whose size byte 0 picks. Properties: accepted heads lie inside the input and the head limit,
// every view points into the head, a strict prefix of an accepted head is only "incomplete",
// a Content-Length never exceeds the body limit; the decoder gives the same payload, bytes
// consumed and error (code and offset) however the input is split, and never more payload than
// the limit or the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_check.hpp"
#include "minibit/wire/http_head.hpp"

namespace {

using namespace minibit;
using fuzz::check;

wire::http_limits limits() {
    wire::http_limits l;
    l.max_head_bytes = 512;
    l.max_headers = 16;
    l.max_body_bytes = 4096;
    l.max_chunk_size_digits = 8;
    return l;
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

void check_head(const wire::http_message_head& h, std::string_view text) {
    check(h.head_bytes <= text.size() && h.head_bytes <= limits().max_head_bytes,
          "head longer than the input or the limit");
    const std::string_view head = text.substr(0, h.head_bytes);
    std::size_t count = 0;
    for (const auto& f : h.headers) {
        check(inside(f.name, head) && inside(f.value, head), "header view outside the head");
        check(!f.name.empty(), "empty header name accepted");
        ++count;
    }
    check(count <= limits().max_headers, "more headers than the limit");
    check(h.framing != wire::body_framing::content_length ||
              h.content_length <= limits().max_body_bytes,
          "Content-Length above the limit accepted");
    for (const std::size_t n : {h.head_bytes - 1, h.head_bytes / 2}) {
        const auto r = wire::parse_http_request(text.substr(0, n), limits());
        const auto s = wire::parse_http_response(text.substr(0, n), limits());
        // A prefix can fail the other parser for its own reasons; it can never be accepted.
        check(!r && !s, "a strict prefix of a head parses as a whole head");
    }
}

struct outcome {
    std::string out;
    std::size_t consumed = 0;
    std::optional<minibit::error> failure;
};

outcome decode(wire::body_framing framing, std::uint64_t length, std::string_view in,
               std::size_t step) {
    wire::http_body_decoder d(framing, length, limits());
    outcome o;
    while (o.consumed < in.size() && !d.done()) {
        const std::size_t n = std::min(step, in.size() - o.consumed);
        const auto r = d.feed(in.substr(o.consumed, n), o.out);
        if (!r) {
            o.failure = r.error();
            break;
        }
        check(*r <= n, "decoder consumed more than it was given");
        o.consumed += *r;
        if (*r < n) break;
    }
    check(o.out.size() <= limits().max_body_bytes, "payload above the limit");
    check(o.out.size() <= in.size(), "payload longer than the input");
    check(o.failure || o.out.size() <= o.consumed, "payload longer than the bytes consumed");
    return o;
}

void check_body(wire::body_framing framing, std::uint64_t length, std::string_view in,
                std::size_t step) {
    const outcome whole = decode(framing, length, in, in.size() + 1);
    const outcome pieces = decode(framing, length, in, step);
    check(whole.failure.has_value() == pieces.failure.has_value(), "split changes success");
    if (whole.failure) {
        check(whole.failure->code == pieces.failure->code &&
                  whole.failure->offset == pieces.failure->offset,
              "split changes the error");
    } else {
        check(whole.out == pieces.out && whole.consumed == pieces.consumed,
              "split changes the payload");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    const std::size_t step = size == 0 ? 1 : 1 + data[0] % 13;
    std::string_view rest = text;
    if (const auto r = wire::parse_http_request(text, limits())) {
        check_head(*r, text);
        check(inside(r->method, text) && inside(r->target, text), "start line view outside");
        rest = text.substr(r->head_bytes);
        check_body(r->framing, r->content_length, rest, step);
    } else {
        check(r.error().offset.value_or(0) <= std::max(size, limits().max_head_bytes),
              "error offset past the input");
    }
    if (const auto s = wire::parse_http_response(text, limits())) {
        check_head(*s, text);
        check(s->status >= 100 && s->status <= 599, "status out of range");
        rest = text.substr(s->head_bytes);
        check_body(s->framing, s->content_length, rest, step);
    }
    check_body(wire::body_framing::chunked, 0, rest, step);
    return 0;
}
