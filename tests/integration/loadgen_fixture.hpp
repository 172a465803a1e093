// What the minibit-loadgen end-to-end tests share: a per-test folder, running the program bounded
// in time, and reading the JSON it prints. MINIBIT_LOADGEN (set by meson) names the program.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "minibit/loadgen/child_process.hpp"
#include "minibit/loadgen/json_reader.hpp"
#include "minibit/loadgen/swarm_files.hpp"

namespace minibit::loadgen::testing {

namespace fs = std::filesystem;

/// A fresh folder named after the running test, removed afterwards unless the test failed (so
/// the peers' logs stay for a look).
class test_dir {
public:
    explicit test_dir(std::string_view prefix) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(prefix) + info->name();
        for (char& c : name) {
            if (c == '/') c = '-';  // parameterised test names
        }
        path_ = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    test_dir(const test_dir&) = delete;
    test_dir& operator=(const test_dir&) = delete;
    ~test_dir() {
        std::error_code ec;
        if (!::testing::Test::HasFailure()) fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

inline fs::path loadgen_program() {
    const char* env = std::getenv("MINIBIT_LOADGEN");
    return env != nullptr ? fs::path(env) : fs::path("minibit-loadgen");
}

struct run_result {
    exit_status status;
    std::string out;  // stdout + stderr
};

/// Runs minibit-loadgen with `args`, bounded by `limit`; how it ended and what it printed.
inline run_result run_loadgen(const fs::path& dir, std::vector<std::string> args,
                              std::chrono::seconds limit, std::size_t max_output) {
    const fs::path out = dir / "loadgen.out";
    auto status = run_to_end({loadgen_program(), std::move(args), out}, limit);
    EXPECT_TRUE(status.has_value()) << (status ? "" : status.error().message());
    auto text = read_file(out, max_output);
    return {status.value_or(exit_status{}), text.value_or("")};
}

/// The JSON object on the last line that starts one.
inline json_value last_json_line(const std::string& out) {
    const auto start = out.rfind("\n{");
    const auto line = out.substr(start == std::string::npos ? 0 : start + 1);
    auto doc = parse_json(line.substr(0, line.find('\n')));
    EXPECT_TRUE(doc.has_value()) << out.substr(0, 4000);
    return doc.value_or(json_value{});
}

inline double number_at(const json_value& doc, std::string_view path) {
    const auto* v = doc.at_path(path);
    return v != nullptr ? v->number().value_or(-1) : -1;
}

inline std::string string_at(const json_value& v, std::string_view key) {
    const auto* s = v.find(key);
    const auto* str = s != nullptr ? std::get_if<std::string>(&s->data) : nullptr;
    return str != nullptr ? *str : std::string("<absent>");
}

}  // namespace minibit::loadgen::testing
