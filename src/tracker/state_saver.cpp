#include "minibit/tracker/state_saver.hpp"

#include <spdlog/spdlog.h>

namespace minibit::tracker {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::microseconds;

/// The table's clock: whole seconds of the steady clock, as the reactors pass it.
std::chrono::seconds table_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(steady::now().time_since_epoch());
}

microseconds since(steady::time_point t) {
    return std::chrono::duration_cast<microseconds>(steady::now() - t);
}

/// State files above this are refused unread (a table of ~100M peers).
constexpr std::size_t max_state_bytes = std::size_t{1} << 30U;

}  // namespace

std::vector<std::uint8_t> snapshot_table(tracker_service& service,
                                         std::chrono::seconds peer_timeout, save_report& report) {
    const auto start = steady::now();
    state_writer w(std::chrono::system_clock::now(), peer_timeout);
    for (std::uint32_t i = 0; i < service.shard_count(); ++i) {
        const auto held = service.with_shard(shard_id{i}, [&](swarm_shard& s) {
            const auto t = steady::now();
            w.encode_shard(s, table_now());
            return since(t);
        });
        w.commit_shard();  // the copy into the file image runs without the lock
        report.longest_hold = std::max(report.longest_hold, held);
    }
    report.swarms = w.swarms();
    report.peers = w.peers();
    std::vector<std::uint8_t> bytes = w.finish();
    report.bytes = bytes.size();
    report.encode = since(start);
    return bytes;
}

result<load_report> load_state(tracker_service& service, const std::filesystem::path& path,
                               std::chrono::seconds peer_timeout) {
    auto bytes = read_whole_file(path, max_state_bytes);
    if (!bytes) return std::unexpected(std::move(bytes.error()));
    auto head = read_state_header(*bytes);
    if (!head) return std::unexpected(std::move(head.error()));
    // Ages grow by the time the file lay on disk (not below zero if the clock went back).
    const auto downtime = std::max(std::chrono::seconds(0),
                                   std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now() - head->written));
    const auto now = table_now();
    load_report report;
    auto header = read_state(*bytes, [&](const info_hash& hash, std::uint32_t downloaded,
                                         std::span<const peer_entry> peers) {
        service.with_shard(service.shard_of(hash), [&](swarm_shard& s) {
            for (peer_entry e : peers) {
                e.age += downtime;
                if (e.age > peer_timeout) {
                    ++report.expired;
                } else if (s.merge(hash, e, now)) {
                    ++report.loaded;
                } else {
                    ++report.refused;
                }
            }
            s.add_downloaded(hash, downloaded);
        });
    });
    if (!header) return std::unexpected(std::move(header.error()));
    report.header = *header;
    return report;
}

state_saver::state_saver(tracker_service& service, std::filesystem::path path,
                         std::chrono::seconds interval, std::chrono::seconds peer_timeout)
    : service_(service), path_(std::move(path)), interval_(interval), peer_timeout_(peer_timeout) {}

state_saver::~state_saver() {
    stop();
}

void state_saver::start() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { loop(); });
}

void state_saver::stop() {
    {
        const std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

result<save_report> state_saver::save() {
    const std::lock_guard lock(save_mutex_);
    save_report report;
    const std::vector<std::uint8_t> bytes = snapshot_table(service_, peer_timeout_, report);
    const auto t = steady::now();
    if (auto w = write_file_atomically(path_, bytes); !w)
        return std::unexpected(std::move(w.error()));
    report.write = since(t);
    return report;
}

void state_saver::loop() {
    std::unique_lock lock(wake_mutex_);
    bool failing = false;  // log a failure once, and the recovery once
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
        lock.unlock();
        const auto r = save();
        if (!r && !failing) {
            spdlog::error("state: cannot save {}: {}", path_.string(), r.error().message());
        } else if (r && failing) {
            spdlog::info("state: saving {} works again", path_.string());
        } else if (r) {
            spdlog::debug(
                "state: saved {} peers of {} swarms ({} bytes): encode {} us, longest "
                "shard lock {} us, write {} us",
                r->peers, r->swarms, r->bytes, r->encode.count(), r->longest_hold.count(),
                r->write.count());
        }
        failing = !r;
        lock.lock();
    }
}

}  // namespace minibit::tracker
