// The outcome of a swarm run: one row per peer (role, result, time to rebuild the file,
// message/connection/byte counters) and the summary (min/median/max, success rate), printed
// as a text table or as one JSON object. Value types and pure formatting; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "minibit/loadgen/peer_stats.hpp"
#include "minibit/loadgen/swarm_options.hpp"
#include "run_figures.hpp"

namespace minibit::loadgen {

/// A peer's part in the swarm.
enum class peer_role { leecher, seeder };

/// How a peer ended.
enum class peer_outcome {
    rebuilt,    ///< `get` completed (its marker appeared), its copy equals the original and it
                ///< exited 0 when stopped (or was killed by the driver's abort after completing)
    corrupt,    ///< `get` exited 0 but the copy differs
    failed,     ///< `get` ended before completing, or did not exit 0 when stopped
    killed,     ///< SIGKILLed on purpose by --kill (not a failure of the run)
    timed_out,  ///< not yet complete at the deadline
    stopped,    ///< not yet complete when a stop signal reached the driver
    seeded,     ///< the seeder (seed mode), stopped at the end; its copy still matches
};

/// One peer's row.
struct peer_report {
    std::uint32_t index = 0;
    peer_role role = peer_role::leecher;
    std::uint16_t port = 0;
    std::uint32_t start_pieces = 0;  ///< pieces given at the start
    peer_outcome outcome = peer_outcome::failed;
    std::string exit;                           ///< "exit 0", "signal 9 (Killed)", ...
    std::optional<double> seconds_to_complete;  ///< from the peer's stats, else the driver's view
    std::optional<peer_counters> counters;      ///< absent when no stats file was written
};

/// When each step of the run ended, in seconds from the run's start (absent: not reached).
struct run_phases {
    std::optional<double> tracker_ready;   ///< the tracker accepts connections
    std::optional<double> torrent_made;    ///< the .torrent written and parsed back
    std::optional<double> peers_prepared;  ///< folders made, starting pieces written
    std::optional<double> peers_started;   ///< every peer started
    /// The first block any leecher received: its completion marker less the peer's own time
    /// from that block to completion.
    std::optional<double> first_block;
    std::optional<double> all_complete;     ///< the last completion marker seen
    std::optional<double> peers_stopped;    ///< every peer reaped (after --linger)
    std::optional<double> copies_checked;   ///< every copy compared with the original
    std::optional<double> folders_removed;  ///< the download folders gone from their place
};

/// The Kumar-Ross fluid-model lower bound on the time to the last completion, for the peers'
/// upload caps (loopback has no link rate of its own: without caps there is no bound).
struct fluid_bound {
    double seconds = 0;
    std::string binding;  ///< which term binds: "seeder uplink", "total uplink", "unique pieces"
    std::string assumes;  ///< what the bound takes as given, for the report
};

/// The whole run.
struct swarm_report {
    start_mode mode = start_mode::scatter;
    std::uint64_t file_bytes = 0;
    std::uint32_t piece_count = 0;
    std::uint64_t piece_length = 0;
    std::uint32_t numwant = 0;
    bool origin = false;                ///< the seeder ran with --origin
    std::uint64_t uplink_rate = 0;      ///< every peer's upload cap, bytes per second (0: none)
    std::uint16_t tracker_port = 0;     ///< 0 when the tracker never started
    std::uint32_t kills_requested = 0;  ///< --kill K (fewer happen if peers finish first)
    std::vector<peer_report> peers;
    double wall_seconds = 0;
    run_phases phases;
    bool timed_out = false;
    int stop_signal = 0;            ///< SIGINT/SIGTERM/SIGHUP that ended the run, or 0
    bool removal_detached = false;  ///< the folders' removal went on in a background process
    std::string failure;            ///< why the run could not complete, if it could not
    run_figures figures;            ///< hosting, tracker latency and CPU, driver resources

    /// Peers expected to rebuild the file: leechers not killed on purpose.
    [[nodiscard]] std::uint32_t expected() const;
    /// Of those, how many rebuilt an identical copy.
    [[nodiscard]] std::uint32_t rebuilt() const;
    /// True when every surviving leecher rebuilt the file and nothing else went wrong.
    [[nodiscard]] bool success() const;
    /// What the seeders uploaded, in copies of the file (seed mode, stats read), else nullopt.
    [[nodiscard]] std::optional<double> seed_upload_copies() const;
    /// The fluid-model bound of this run, or nullopt without upload caps (or file).
    [[nodiscard]] std::optional<fluid_bound> bound() const;
    /// The time to the last completion over the bound, when both are known.
    [[nodiscard]] std::optional<double> bound_ratio() const;
    /// Peers SIGKILLed on purpose (--kill).
    [[nodiscard]] std::uint32_t killed() const;
    /// "10/10 files rebuilt and identical", with the kills done and not done.
    [[nodiscard]] std::string summary_line() const;
};

/// Min, median and max of a list (nullopt members skipped); all empty when none.
struct spread {
    std::optional<double> min, median, max;
};
[[nodiscard]] spread spread_of(std::vector<double> values);

/// Times to rebuild and message counts per peer, over the peers that rebuilt the file.
struct swarm_summary {
    spread seconds, sent, received;
};
[[nodiscard]] swarm_summary summarize(const swarm_report& report);

/// The transfer: every peer started to the last completion, when both were reached.
[[nodiscard]] std::optional<double> transfer_seconds(const run_phases& phases);
/// One line of the phases: start, first block, transfer, stop, check, folder removal.
[[nodiscard]] std::string format_phases(const swarm_report& report);

/// The human table plus summary lines (report_json.hpp has the JSON form).
[[nodiscard]] std::string format_table(const swarm_report& report);

/// "scatter" / "seed"; and the names used for roles and outcomes in both formats.
[[nodiscard]] std::string_view name_of(start_mode m);
[[nodiscard]] std::string_view name_of(peer_role r);
[[nodiscard]] std::string_view name_of(peer_outcome o);

}  // namespace minibit::loadgen
