#include "minibit/swarm/tracker_scrape.hpp"

#include <fmt/format.h>

#include "http_fetcher.hpp"
#include "minibit/swarm/torrent_options.hpp"
#include "minibit/swarm/tracker_url.hpp"
#include "minibit/wire/tracker_http.hpp"
#include "udp_scrape.hpp"

namespace minibit::swarm {

std::optional<std::string> scrape_url(const std::string& announce, const info_hash& hash) {
    if (!announce.starts_with("http://") && !announce.starts_with("https://")) {
        return std::nullopt;
    }
    const auto query = announce.find('?');
    const std::string path = announce.substr(0, query);
    const auto slash = path.rfind('/');
    const auto scheme_end = path.find("://");
    if (slash == std::string::npos || slash <= scheme_end + 2) return std::nullopt;
    const std::string last = path.substr(slash + 1);
    if (!last.starts_with("announce")) return std::nullopt;
    std::string url = path.substr(0, slash + 1) + "scrape" + last.substr(8);
    url += query == std::string::npos ? "?" : announce.substr(query) + "&";
    url += "info_hash=";
    for (const std::uint8_t b : hash.bytes) url += fmt::format("%{:02X}", b);
    return url;
}

scrape_client::scrape_client(io::reactor& reactor) : reactor_(reactor), scope_(reactor) {}

scrape_client::~scrape_client() {
    // The fetcher is shared with the other clients on this reactor: end our transfers only.
    for (const auto id : http_requests_) http_->cancel(id);
}

result<std::unique_ptr<scrape_client>> scrape_client::create(io::reactor& reactor,
                                                             scrape_options options) {
    std::unique_ptr<scrape_client> c(new scrape_client(reactor));
    auto http = http_fetcher::shared(reactor);
    if (!http) return std::unexpected(http.error());
    c->http_ = std::move(*http);
    c->options_ = std::move(options);
    return c;
}

void scrape_client::scrape(const std::string& announce, const info_hash& hash, done_fn done) {
    if (auto parsed = parse_tracker_url(announce);
        parsed && parsed->scheme == tracker_scheme::udp) {
        if (!udp_) {
            udp_ = std::make_unique<udp_scraper>(reactor_, options_.udp_timeout,
                                                 options_.udp_attempts);
        }
        udp_->scrape(*parsed, announce, hash, std::move(done));
        return;
    }
    const auto url = scrape_url(announce, hash);
    if (!url) {
        scope_.post([announce, done = std::move(done)] {
            done(fail(swarm_errc::bad_tracker_url,
                      fmt::format("cannot scrape {}: only udp:// trackers and http(s) "
                                  "trackers whose announce path ends in /announce are scraped",
                                  announce)));
        });
        return;
    }
    http_get_options o;
    o.timeout = options_.http_timeout;
    o.ca_file = options_.ca_file;
    o.max_body_bytes = 64U << 10U;
    // Answers are always posted, so the id is known by the time the callback runs.
    auto id = std::make_shared<http_fetcher::request_id>(0);
    *id = http_->get(
        *url, o, scope_.share(), [this, id, hash, done = std::move(done)](result<http_answer> r) {
            std::erase(http_requests_, *id);
            if (!r) return done(std::unexpected(r.error()));
            if (r->status != 200) {
                return done(fail(swarm_errc::tracker_failed,
                                 fmt::format("scrape answered HTTP {}", r->status)));
            }
            auto entries = wire::parse_scrape_response(r->body, {});
            if (!entries) return done(std::unexpected(entries.error()));
            for (const auto& e : *entries) {
                if (e.hash == hash)
                    return done(scrape_counts{e.complete, e.incomplete, e.downloaded});
            }
            done(fail(swarm_errc::tracker_failed, "the scrape does not list the torrent"));
        });
    http_requests_.push_back(*id);
}

}  // namespace minibit::swarm
