// Removing a swarm's download folders at the end of a run. Unlinking a copy that its peer made
// durable (fdatasync at stop) waits on the file system: 40-65 ms for each 1 MiB copy on this
// ext4 volume mounted with `discard`, most of the main job's wall time. So the folders are
// renamed out of the way at once (DIR/.minibit-removing-PID/, a rename each) and removed by a
// detached `rm -rf` at idle priority that outlives the run. Driver thread only.
#pragma once

#include <filesystem>
#include <vector>

namespace minibit::loadgen {

/// The name prefix of the hidden folder that holds a run's folders while they are removed.
inline constexpr std::string_view removal_prefix = ".minibit-removing-";

/// Removes the folders (recursively) on up to 16 threads at once; errors are ignored.
void remove_folders(const std::vector<std::filesystem::path>& folders);

/// Moves `folders` (each inside `parent`) into parent/.minibit-removing-PID and starts a
/// detached process that removes that folder; removes them here when that cannot be done.
/// Returns true when the removal went to the background.
bool remove_in_background(const std::filesystem::path& parent,
                          const std::vector<std::filesystem::path>& folders);

}  // namespace minibit::loadgen
