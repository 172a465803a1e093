// What the minibit-loadgen end-to-end tests share: a per-test folder, running the program bounded
// in time, and reading the JSON it prints. MINIBIT_LOADGEN (set by meson) names the program.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "minibit/loadgen/child_process.hpp"
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

using json = nlohmann::json;

/// The JSON object on the last line that starts one (null when there is none).
inline json last_json_line(const std::string& out) {
    const auto start = out.rfind("\n{");
    const auto line = out.substr(start == std::string::npos ? 0 : start + 1);
    auto doc = json::parse(line.substr(0, line.find('\n')), nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << out.substr(0, 4000);
    return doc.is_discarded() ? json() : doc;
}

/// The member at a dotted path ("tracker_probe.p99_ms"), or nullptr.
inline const json* at_path(const json& doc, std::string_view dotted) {
    const json* cur = &doc;
    while (cur != nullptr && cur->is_object()) {
        const auto dot = dotted.find('.');
        const auto it = cur->find(std::string(dotted.substr(0, dot)));
        cur = it != cur->end() ? &*it : nullptr;
        if (dot == std::string_view::npos) return cur;
        dotted.remove_prefix(dot + 1);
    }
    return nullptr;
}

/// The number at a dotted path, or -1 when absent or not a number.
inline double number_at(const json& doc, std::string_view path) {
    const auto* v = at_path(doc, path);
    return v != nullptr && v->is_number() ? v->get<double>() : -1;
}

/// The string member `key`, or "<absent>".
inline std::string string_at(const json& v, std::string_view key) {
    const auto* s = at_path(v, key);
    return s != nullptr && s->is_string() ? s->get<std::string>() : std::string("<absent>");
}

/// The boolean at a dotted path ("<absent>" and other types as nullopt).
inline std::optional<bool> bool_at(const json& v, std::string_view path) {
    const auto* b = at_path(v, path);
    if (b == nullptr || !b->is_boolean()) return std::nullopt;
    return *b == json(true);
}

/// The array member `key` (empty when absent).
inline json array_at(const json& v, std::string_view key) {
    const auto* a = at_path(v, key);
    return a != nullptr && a->is_array() ? *a : json::array();
}

}  // namespace minibit::loadgen::testing
