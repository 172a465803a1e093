// Reading a small file that a user names (a config, a token, a hash or zone list, a .torrent)
// without trusting what stands at the path: a FIFO is refused at once instead of waited on (an
// open for reading would block until a writer came), so are devices, sockets and folders, and a
// file larger than the caller's bound is refused before a byte of it is read.
// Any thread may call read_small_file; it blocks only on the file system.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "minibit/core/result.hpp"

namespace minibit {

enum class file_errc {
    io = 1,       ///< open or read failed (errno's text in the reason)
    not_regular,  ///< a FIFO, device, socket or folder
    too_large,    ///< over the caller's bound
};

[[nodiscard]] constexpr std::string_view error_domain(file_errc) {
    return "file";
}

/// The whole content of the regular file at `path` (symbolic links followed), at most
/// `max_bytes` long. Errors name the path: "PATH: not a regular file", "PATH: larger than N
/// bytes", "PATH: No such file or directory".
[[nodiscard]] result<std::string> read_small_file(const std::filesystem::path& path,
                                                  std::uint64_t max_bytes);

/// The first line of the regular file at `path` (a token or a secret), without the spaces,
/// tabs and CR around it; the file may hold at most 64 KiB. Errors as read_small_file's.
[[nodiscard]] result<std::string> read_first_line(const std::filesystem::path& path);

}  // namespace minibit
