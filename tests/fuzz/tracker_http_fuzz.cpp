// Fuzz target: the tracker's HTTP side. The input is a request head for parse_tracker_request, a
// request target for split_request_target and tracker_service::handle_http (fixed clock and
// peer), and a query for the announce/scrape parsers. Properties: an accepted announce query
// rebuilt with build_announce_query parses back equal; percent_decode inverts percent_encode;
// every service reply is a status 200 or 4xx/5xx with a non-empty body.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "fuzz_service.hpp"
#include "minibit/tracker/http_request.hpp"
#include "minibit/tracker/service.hpp"

namespace {

using namespace minibit;
using fuzz::check;

tracker::tracker_service& service() {
    return fuzz::bounded_service(7);
}

void check_query(std::string_view query, const wire::http_query_limits& limits) {
    if (const auto a = wire::parse_announce_query(query, limits)) {
        const auto rebuilt = wire::build_announce_query(*a);
        const auto back = wire::parse_announce_query(rebuilt, limits);
        check(back.has_value(), "rebuilt announce query does not parse");
        check(*back == *a, "rebuilt announce query parses to a different request");
    }
    if (const auto s = wire::parse_scrape_query(query, limits)) {
        check(s->size() <= limits.max_scrape_hashes, "scrape query above the hash cap accepted");
    }
    if (const auto d = wire::percent_decode(query)) {
        const auto enc = wire::percent_encode(
            {reinterpret_cast<const std::uint8_t*>(d->data()), d->size()});
        const auto dd = wire::percent_decode(enc);
        check(dd.has_value() && *dd == *d, "percent_decode(percent_encode(x)) != x");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    if (const auto head = tracker::parse_tracker_request(text, wire::http_limits{})) {
        check(head->head_bytes <= size, "head longer than the buffer");
        check(text.substr(0, head->head_bytes).find(head->target) != std::string_view::npos,
              "target not inside the head");
    }
    const wire::http_query_limits limits;
    if (const auto t = wire::split_request_target(text, limits)) {
        check(t->path.size() + t->query.size() <= size, "split target longer than the input");
    }
    check_query(text, limits);
    static const auto peer = *io::address::parse("127.0.0.1:6881");
    const auto reply = service().handle_http(text, peer, std::chrono::seconds{1000});
    check(reply.status == 200 || (reply.status >= 400 && reply.status < 600), "odd HTTP status");
    check(!reply.body.empty(), "empty reply body");
    return 0;
}
