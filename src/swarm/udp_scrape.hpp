// Private to swarm/: the BEP 15 scrape (connect, then action 2 for one info hash) of udp://
// trackers, for scrape_client. One socket per address family, exchanges told apart by their
// transaction ids, connection ids kept a minute per tracker address, every packet retried after
// timeout * 2^n (BEP 15's back-off with a shorter base) and given up after `attempts` unanswered
// packets, so a scrape ends within a bounded time. Reactor thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/tracker_scrape.hpp"
#include "minibit/swarm/tracker_url.hpp"

namespace minibit::swarm {

class udp_scraper {
public:
    using done_fn = scrape_client::done_fn;

    /// A scraper on `reactor`: first wait `timeout`, doubling per retry, `attempts` packets.
    udp_scraper(io::reactor& reactor, std::chrono::milliseconds timeout, std::uint32_t attempts);
    udp_scraper(const udp_scraper&) = delete;
    udp_scraper& operator=(const udp_scraper&) = delete;
    /// Closes the sockets; the callbacks of scrapes in flight never run.
    ~udp_scraper();

    /// Scrapes `hash` at the udp:// tracker `url` (its text is `text`); `done` runs once, later.
    void scrape(const tracker_url& url, const std::string& text, const info_hash& hash,
                done_fn done);

private:
    struct exchange;
    /// A connection id a tracker address issued, and when.
    struct connection {
        io::address addr;
        std::uint64_t id = 0;
        io::reactor::clock::time_point obtained;
    };

    /// Starts the exchange once its tracker's address is known.
    void begin(const std::shared_ptr<exchange>& ex, result<io::address> addr);
    /// Sends the exchange's next packet (connect or scrape) and arms its retry.
    void send(const std::shared_ptr<exchange>& ex);
    /// The retry timer of `ex` fired.
    void on_timeout(const std::shared_ptr<exchange>& ex);
    /// A datagram reached one of the sockets.
    void on_datagram(std::span<const std::byte> bytes, const io::address& from);
    /// Notes why a packet from `from` was refused, for the exchanges waiting on that address.
    void refuse(const io::address& from, const std::string& why);
    /// Ends `ex` with `r`.
    void finish(const std::shared_ptr<exchange>& ex, result<scrape_counts> r);
    /// Takes `ex` off the waiting list (under its current transaction id).
    void unlist(const std::shared_ptr<exchange>& ex);
    /// The socket for `family` (AF_INET or AF_INET6), bound on first use.
    result<io::udp_id> socket_for(int family);
    /// The unexpired connection id `addr` issued, if any.
    std::optional<std::uint64_t> connection_id(const io::address& addr) const;
    void forget_connection(const io::address& addr);

    io::reactor& reactor_;
    std::chrono::milliseconds timeout_;
    std::uint32_t attempts_;
    std::optional<io::udp_id> udp4_, udp6_;
    /// Exchanges waiting for an answer, by the transaction id of their last packet.
    std::unordered_map<std::uint32_t, std::shared_ptr<exchange>> waiting_;
    std::vector<connection> connections_;  ///< a handful of trackers: a linear scan
    io::scope scope_;  ///< timers, lookups and socket callbacks; last member, first to go
};

}  // namespace minibit::swarm
