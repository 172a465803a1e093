// minibit-peer create and info: hash data into a .torrent file, describe a .torrent file, as
// text or as one JSON object (nlohmann-json, so file names are escaped). Thin: libminibit does
// the work. One thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "minibit/core/metainfo.hpp"

namespace minibit::apps {

/// What `minibit-peer create` was asked for.
struct create_request {
    std::filesystem::path source;
    create_options options;
    std::optional<std::filesystem::path> output;  ///< default: SOURCE's name + .torrent
    bool json = false;
};

/// Why `url` cannot serve as a tracker of a new torrent ("" when it can): an http://,
/// https:// or udp:// URL with a host (and, for udp://, a port).
[[nodiscard]] std::string tracker_url_problem(std::string_view url);

/// Writes the torrent (atomically: a temporary file, then a rename) and describes it; throws
/// std::runtime_error on a failure, which leaves no file behind.
int create_command(const create_request& request);

/// Prints the torrent's description; throws std::runtime_error when it cannot be read.
int info_command(const std::filesystem::path& torrent, bool json);

}  // namespace minibit::apps
