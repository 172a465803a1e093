// The agent's watch folder: polled once a second; a .torrent file that appears is added into
// the default download folder, one that disappears stops and forgets its torrent (the data
// stays). A file that does not parse (still being written, or bad) is reported once per
// version (size and mtime) and tried again when it changes. Reactor thread of the agent.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>

#include "minibit/core/sha1.hpp"
#include "minibit/io/scope.hpp"

namespace minibit::agent {

class agent;

/// Polls one folder for .torrent files.
class watch_folder {
public:
    watch_folder(io::reactor& reactor, agent& owner, std::filesystem::path dir);
    watch_folder(const watch_folder&) = delete;
    watch_folder& operator=(const watch_folder&) = delete;
    ~watch_folder() = default;

    /// Scans now and then every `period`.
    void start(std::chrono::milliseconds period = std::chrono::seconds(1));

private:
    /// What the folder held under one name.
    struct seen {
        std::uintmax_t size = 0;
        std::filesystem::file_time_type mtime;
        bool added = false;  ///< parsed; `hash` is its torrent
        info_hash hash;
    };
    void scan();
    void look_at(const std::filesystem::path& file, seen& s);

    agent& owner_;
    std::filesystem::path dir_;
    std::map<std::string, seen> files_;
    std::chrono::milliseconds period_{1000};
    io::scope scope_;  ///< the poll timer; last member, first to go
};

}  // namespace minibit::agent
