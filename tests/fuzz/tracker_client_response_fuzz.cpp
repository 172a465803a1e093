// Fuzz target: what a peer's tracker client parses from a tracker: a response body
// (parse_announce_response and parse_scrape_response; libcurl does the HTTP framing), plus a
// tracker URL. Property: an accepted announce answer re-encoded by the server's encoder parses
// back equal.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "minibit/swarm/tracker_url.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace {

using namespace minibit;
using fuzz::check;

void check_body(std::string_view body) {
    const wire::http_response_limits limits;
    if (const auto a = wire::parse_announce_response(body, limits)) {
        check(a->peers4.size() % 6 == 0 && a->peers6.size() % 18 == 0, "partial peer record");
        const auto enc = wire::encode_announce_response(*a, wire::peer_list_format::compact);
        const auto back = wire::parse_announce_response(enc, limits);
        check(back.has_value() && *back == *a, "re-encoded announce answer parses differently");
    }
    if (const auto s = wire::parse_scrape_response(body, limits)) {
        const auto enc = wire::encode_scrape_response(*s);
        const auto back = wire::parse_scrape_response(enc, limits);
        check(back.has_value() && *back == *s, "re-encoded scrape answer parses differently");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    check_body(text);
    (void)swarm::parse_tracker_url(text);
    return 0;
}
