// The rollout page's static files (src/tracker/web/), compiled into the binary by
// web/embed_assets.py at build time, so the tracker serves them with no files on disk.
#pragma once

#include <string_view>

namespace minibit::tracker {

/// One embedded file.
struct web_asset {
    std::string_view path;          ///< as requested, e.g. "/index.html", "/ui/app.js"
    std::string_view content_type;  ///< with charset for text
    std::string_view body;
};

/// The asset served at `path`, or nullptr.
[[nodiscard]] const web_asset* find_web_asset(std::string_view path);

}  // namespace minibit::tracker
