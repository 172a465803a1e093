// A temp folder for one test, removed with everything in it when the test ends.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace minibit::testing {

/// A fresh folder under the system temp directory, named `prefix` plus a random number.
struct temp_dir {
    std::filesystem::path path;
    explicit temp_dir(std::string_view prefix) {
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        path = std::filesystem::temp_directory_path() /
               (std::string(prefix) + std::to_string(rng()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace minibit::testing
