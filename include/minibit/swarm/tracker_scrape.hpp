// Scraping a torrent's tracker (BEP 48) over http(s): the scrape URL follows the announce URL's
// convention (the last path segment "announce..." becomes "scrape..."), fetched with the same
// libcurl fetcher the announces use, on one reactor. Trackers whose announce URL does not
// follow the convention, and udp:// trackers, cannot be scraped here (a clear error). Reactor
// thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::swarm {

class http_fetcher;

/// A scrape's counters for one torrent (BEP 48).
struct scrape_counts {
    std::uint32_t seeders = 0;   ///< "complete"
    std::uint32_t leechers = 0;  ///< "incomplete"
    std::uint32_t downloaded = 0;
};

/// The scrape URL of an http(s) announce URL with `hash` as its query; nullopt when the
/// announce URL does not follow the convention or is not http(s).
[[nodiscard]] std::optional<std::string> scrape_url(const std::string& announce,
                                                    const info_hash& hash);

/// Scrapes trackers on one reactor; answers arrive later on that reactor's thread.
class scrape_client {
public:
    using done_fn = std::function<void(result<scrape_counts>)>;

    /// A client on `reactor`; `ca_file` as tracker_options::ca_file.
    [[nodiscard]] static result<std::unique_ptr<scrape_client>> create(io::reactor& reactor,
                                                                       std::string ca_file = {});
    scrape_client(const scrape_client&) = delete;
    scrape_client& operator=(const scrape_client&) = delete;
    /// Drops every scrape in flight (their callbacks never run).
    ~scrape_client();

    /// Scrapes `hash` at the tracker of `announce`; `done` runs once, later.
    void scrape(const std::string& announce, const info_hash& hash, done_fn done);

private:
    explicit scrape_client(io::reactor& reactor);

    io::reactor& reactor_;
    std::unique_ptr<http_fetcher> http_;
    std::string ca_file_;
    std::chrono::milliseconds timeout_{15000};
    io::scope scope_;  ///< refusals posted without a fetch; last member, first to go
};

}  // namespace minibit::swarm
