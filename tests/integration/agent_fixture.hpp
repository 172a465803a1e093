// The host agent's test fixture: agent processes (real minibit-peer agent with its own state
// folder, socket and port) driven over their control socket and by the CLI verbs, and sets of
// random torrents to move between them.
#pragma once

#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fault_fixture.hpp"
#include "minibit/agent/control_client.hpp"
#include "minibit/core/metainfo.hpp"

namespace minibit::faults {

using json = nlohmann::json;

inline std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_random(const fs::path& p, std::size_t bytes, unsigned seed) {
    std::string data(bytes, '\0');
    std::mt19937 rng(seed);
    for (auto& c : data) c = static_cast<char>(rng());
    std::ofstream(p, std::ios::binary) << data;
}

/// A running agent process with its folders and socket.
struct agent_process {
    fs::path state, downloads, socket, log;
    fs::path watch;  ///< empty: no watch folder
    std::uint16_t port = 0;
    std::vector<std::string> extra;  ///< more flags for the agent
    std::unique_ptr<child> proc;

    agent_process(const fs::path& dir, const std::string& name, fs::path download_dir)
        : state(dir / (name + "-state")),
          downloads(std::move(download_dir)),
          socket(dir / (name + ".sock")),
          log(dir / (name + ".log")),
          port(free_port()) {
        fs::create_directories(downloads);
    }
    /// Starts the process and waits until its socket answers.
    bool start() {
        std::vector<std::string> args{program("MINIBIT_PEER"),
                                      "agent",
                                      "--state-dir",
                                      state.string(),
                                      "--download-dir",
                                      downloads.string(),
                                      "--socket",
                                      socket.string(),
                                      "--listen",
                                      "127.0.0.1:" + std::to_string(port),
                                      "--rechoke-interval",
                                      "0.2",
                                      "--hashing-threads",
                                      "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        if (!watch.empty()) {
            fs::create_directories(watch);
            args.push_back("--watch");
            args.push_back(watch.string());
        }
        proc = std::make_unique<child>(args, log);
        return wait_until(
                   [&] { return !proc->running() || call("GET", "/v1/status").status == 200; }, 15s,
                   50ms) &&
               proc->running();
    }
    agent::control_reply call(std::string_view method, const std::string& target,
                              std::string_view type = {}, std::string_view body = {}) const {
        auto r = agent::call_agent(socket, method, target, type, body, 10s);
        return r ? *r : agent::control_reply{0, r.error().message()};
    }
    json torrent(const info_hash& h) const {
        auto r = call("GET", "/v1/torrents/" + h.hex());
        return r.status == 200 ? json::parse(r.body) : json::object();
    }
    /// Runs a CLI verb against this agent; its exit status and output.
    std::pair<int, std::string> cli(std::vector<std::string> args) const {
        args.insert(args.begin(), program("MINIBIT_PEER"));
        args.push_back("--socket");
        args.push_back(socket.string());
        const fs::path out = log.string() + ".cli";
        fs::remove(out);
        child c(args, out);
        const auto st = c.wait_for(90s);
        return {st.value_or(-1), read_all(out)};
    }
};

/// Torrents (three of 8 MiB by default; 16 KiB pieces) in `src`, announced to the tracker on `port`.
struct torrent_set {
    std::vector<fs::path> files, torrents;
    std::vector<metainfo> infos;
    /// `count` torrents of `bytes` random bytes each, announced to `tracker` (by default the
    /// HTTP announce URL of 127.0.0.1:`tracker_port`).
    torrent_set(const fs::path& src, std::uint16_t tracker_port, int count = 3,
                std::size_t bytes = 8U << 20U, std::string tracker = {}) {
        if (tracker.empty()) {
            tracker = "http://127.0.0.1:" + std::to_string(tracker_port) + "/announce";
        }
        fs::create_directories(src);
        for (int i = 0; i < count; ++i) {
            const fs::path f = src / ("file" + std::to_string(i) + ".bin");
            write_random(f, bytes, 40 + i);
            const fs::path t = src / ("t" + std::to_string(i) + ".torrent");
            auto out = run_output({program("MINIBIT_PEER"), "create", f.string(), "--tracker",
                                   tracker, "--piece-size", "16384", "-o", t.string()},
                                  src / "create.log");
            EXPECT_TRUE(out.has_value());
            files.push_back(f);
            torrents.push_back(t);
            infos.push_back(*load_metainfo(t));
        }
    }
};

}  // namespace minibit::faults
