// Scraping a torrent's tracker for its counters: http(s) trackers (BEP 48) at the scrape URL
// that follows the announce URL's convention (the last path segment "announce..." becomes
// "scrape..."), fetched with the libcurl fetcher the announces use; udp:// trackers (BEP 15,
// connect then scrape, retried with a bounded back-off, names resolved off the reactor thread).
// An http(s) announce URL off the convention cannot be scraped (a clear error). Reactor thread
// only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::swarm {

class http_fetcher;
class udp_scraper;

/// A scrape's counters for one torrent (BEP 48).
struct scrape_counts {
    std::uint32_t seeders = 0;   ///< "complete"
    std::uint32_t leechers = 0;  ///< "incomplete"
    std::uint32_t downloaded = 0;
};

/// Tunables of scrape_client.
struct scrape_options {
    std::string ca_file;                            ///< https: as tracker_options::ca_file
    std::chrono::milliseconds http_timeout{15000};  ///< the whole HTTP exchange
    /// udp://: the first wait for an answer, doubled per retry (BEP 15's 15 * 2^n s).
    std::chrono::milliseconds udp_timeout{15000};
    /// udp://: unanswered packets before the scrape fails; with the doubling, a scrape ends
    /// within udp_timeout * (2^udp_attempts - 1) plus one wait per connect answer.
    std::uint32_t udp_attempts = 3;
};

/// The scrape URL of an http(s) announce URL with `hash` as its query; nullopt when the
/// announce URL does not follow the convention or is not http(s).
[[nodiscard]] std::optional<std::string> scrape_url(const std::string& announce,
                                                    const info_hash& hash);

/// Scrapes trackers on one reactor; answers arrive later on that reactor's thread.
class scrape_client {
public:
    using done_fn = std::function<void(result<scrape_counts>)>;

    /// A client on `reactor`.
    [[nodiscard]] static result<std::unique_ptr<scrape_client>> create(io::reactor& reactor,
                                                                       scrape_options options = {});
    scrape_client(const scrape_client&) = delete;
    scrape_client& operator=(const scrape_client&) = delete;
    /// Drops every scrape in flight (their callbacks never run).
    ~scrape_client();

    /// Scrapes `hash` at the http(s) or udp:// tracker of `announce`; `done` runs once, later.
    void scrape(const std::string& announce, const info_hash& hash, done_fn done);

private:
    explicit scrape_client(io::reactor& reactor);

    io::reactor& reactor_;
    std::shared_ptr<http_fetcher> http_;        ///< shared with every client on the loop
    std::vector<std::uint64_t> http_requests_;  ///< http(s) scrapes in flight
    std::unique_ptr<udp_scraper> udp_;          ///< made at the first udp:// scrape
    scrape_options options_;
    io::scope scope_;  ///< refusals posted without a fetch; last member, first to go
};

}  // namespace minibit::swarm
