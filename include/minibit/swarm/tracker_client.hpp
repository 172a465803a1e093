// Tracker client of one torrent: HTTP(S) announces (libcurl's multi interface driven by the
// reactor, one http_fetcher shared by every client on the reactor) and UDP announces (BEP 15 connect then announce, retried 15 * 2^n s with a cap),
// through the BEP 12 announce-list tiers (tried in order; the URL that answers moves to the
// front of its tier). Events: started, periodic at the tracker's interval, completed, stopped
// (best effort, short timeout). Retries with exponential backoff. Reactor thread only (asserted
// in checked builds).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minibit/core/result.hpp"
#include "minibit/core/sha1.hpp"
#include "minibit/io/reactor.hpp"
#include "minibit/io/scope.hpp"
#include "minibit/swarm/tracker_url.hpp"
#include "minibit/wire/peer_message.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::swarm {

using namespace std::chrono_literals;

class http_fetcher;

/// How one tracker URL stands, as the client last reported it.
enum class tracker_health {
    unknown,  ///< not tried yet
    ok,       ///< answered the last announce
    silent,   ///< an announce has been waiting longer than slow_notice, still trying
    failing,  ///< the last announce failed (refused, DNS, timeout, HTTP status, failure reason)
};

/// One change of a tracker URL's health, handed to tracker_options::on_status.
struct tracker_status {
    std::string url;
    tracker_health health = tracker_health::unknown;
    tracker_health previous = tracker_health::unknown;
    std::string reason;     ///< why it is silent or failing; "" when ok
    std::size_t peers = 0;  ///< ok: peers in the answer
};

/// "ok", "silent", "failing" or "unknown".
[[nodiscard]] std::string_view to_string(tracker_health health);

/// Tunables of the tracker client.
struct tracker_options {
    std::uint32_t numwant = 50;
    /// Whole HTTP exchange (connect, request, response).
    std::chrono::milliseconds http_timeout = 15s;
    /// BEP 15: wait 15 * 2^n seconds for a UDP answer; tests shorten the base.
    std::chrono::milliseconds udp_timeout = 15s;
    /// UDP attempts per packet before the URL counts as failed (BEP 15 allows n up to 8).
    std::uint32_t udp_attempts = 3;
    /// Backoff after every URL failed: retry_min, doubling, capped at retry_max.
    std::chrono::milliseconds retry_min = 5s;
    std::chrono::milliseconds retry_max = 300s;
    /// The stopped announce at shutdown waits at most this long.
    std::chrono::milliseconds stopped_timeout = 2s;
    std::size_t max_response_bytes = 1U << 20U;
    /// https: PEM file of the authorities to trust; empty: $CURL_CA_BUNDLE, else
    /// $SSL_CERT_FILE, else the system's store.
    std::string ca_file;
    /// An announce unanswered this long is reported as silent (a dead UDP tracker fails only
    /// after its retries, ~2 min; the user hears of it well before).
    std::chrono::milliseconds slow_notice = 3s;
    /// Called on the reactor thread once per change of a URL's health (not per retry).
    std::function<void(const tracker_status&)> on_status;
};

/// The numbers an announce reports.
struct announce_progress {
    std::uint64_t uploaded = 0;
    std::uint64_t downloaded = 0;
    std::uint64_t left = 0;
};

/// Announces one torrent to its trackers and hands the peers it learns to a callback.
class tracker_client {
public:
    using clock = io::reactor::clock;
    using progress_fn = std::function<announce_progress()>;
    using peers_fn = std::function<void(const std::vector<io::address>&)>;

    /// A client for `tiers` (metainfo::tracker_tiers()); fails on a URL it cannot use.
    [[nodiscard]] static result<std::unique_ptr<tracker_client>> create(
        io::reactor& reactor, std::vector<std::vector<std::string>> tiers, info_hash hash,
        wire::peer_id id, std::uint16_t listen_port, tracker_options options, progress_fn progress,
        peers_fn on_peers);
    tracker_client(const tracker_client&) = delete;
    tracker_client& operator=(const tracker_client&) = delete;
    ~tracker_client();

    /// Sends the `started` announce (retried until one tracker answers).
    void start();
    /// Sends the `completed` announce (right away, or after the announce in flight).
    void completed();
    /// Sends `stopped` to the last tracker that answered, then calls `done` (also on timeout).
    void stop(std::function<void()> done);

    /// When a tracker last answered, if ever.
    [[nodiscard]] std::optional<clock::time_point> last_success() const { return last_success_; }
    /// Announces answered and failed (per URL attempt).
    [[nodiscard]] std::uint64_t successes() const { return successes_; }
    [[nodiscard]] std::uint64_t failures() const { return failures_; }
    /// The last failure's reason ("" when none).
    [[nodiscard]] const std::string& last_error() const { return last_error_; }
    /// The last change reported for any URL (health unknown before the first one).
    [[nodiscard]] const tracker_status& last_status() const { return last_status_; }

private:
    struct endpoint {
        std::string text;
        tracker_url url;
        tracker_health health = tracker_health::unknown;  ///< as last reported
        std::string reason;                               ///< as last reported
    };
    struct udp_exchange;
    struct connection_id_cache {
        std::uint64_t id = 0;
        clock::time_point obtained;
        std::string url;
    };

    tracker_client(io::reactor& reactor, info_hash hash, wire::peer_id id, std::uint16_t port,
                   tracker_options options, progress_fn progress, peers_fn on_peers);
    void announce(wire::announce_event event);
    void try_current();
    void on_result(std::uint64_t generation, result<wire::announce_response> r);
    void schedule(std::chrono::milliseconds delay, wire::announce_event event);
    /// Sends the current event to tiers_[tier_][index_] and arms the slow-answer notice.
    void send_current();
    /// Reports a change of `ep`'s health (nothing when it is unchanged).
    void report(endpoint& ep, tracker_health health, std::string reason, std::size_t peers = 0);
    void http_announce(const endpoint& ep, wire::announce_event event, std::uint64_t generation);
    /// Resolves the URL's host (a name off the reactor thread), then udp_announce_to.
    void udp_announce(const endpoint& ep, wire::announce_event event, std::uint64_t generation);
    /// Starts the BEP 15 exchange with `to` for announce `generation`.
    void udp_announce_to(const io::address& to, const std::string& url, wire::announce_event event,
                         std::uint64_t generation);
    void udp_send(const std::shared_ptr<udp_exchange>& ex);
    void on_datagram(std::span<const std::byte> bytes, const io::address& from);
    [[nodiscard]] wire::announce_request make_request(wire::announce_event event) const;

    io::reactor& reactor_;
    std::vector<std::vector<endpoint>> tiers_;
    info_hash hash_;
    wire::peer_id id_;
    std::uint16_t port_;
    tracker_options options_;
    progress_fn progress_;
    peers_fn on_peers_;
    /// Shared with every client on this reactor's loop; taken at the first http(s) announce.
    std::shared_ptr<http_fetcher> http_;
    std::uint64_t http_request_ = 0;  ///< the last announce sent through http_ (0: none yet)
    std::optional<io::udp_id> udp_;
    int udp_family_ = 0;
    std::shared_ptr<udp_exchange> udp_active_;
    std::optional<connection_id_cache> conn_id_;
    std::optional<std::pair<std::size_t, std::size_t>> last_good_;  ///< tier, index
    std::optional<clock::time_point> last_success_;
    std::function<void()> stop_done_;
    std::string last_error_;
    tracker_status last_status_;
    io::timer_id timer_{};
    io::timer_id slow_timer_{};
    std::uint64_t generation_ = 0;  ///< bumped per announce; stale answers are ignored
    std::uint64_t successes_ = 0;
    std::uint64_t failures_ = 0;
    std::uint32_t backoff_steps_ = 0;
    std::size_t tier_ = 0;
    std::size_t index_ = 0;
    wire::announce_event event_ = wire::announce_event::started;
    bool busy_ = false;
    bool want_completed_ = false;
    bool stopping_ = false;
    io::scope scope_;  ///< timers and guarded callbacks; last member, so the first to go
};

}  // namespace minibit::swarm
