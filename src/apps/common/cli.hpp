// The command-line conventions of minibit-peer, minibit-tracker and minibit-loadgen, on CLI11
// (Debian libcli11-dev 2.1.2). A program builds one command_line, declares its flags with the
// add_* helpers below (the declaration is the parser, the range check and the --help line at
// once, so usage text and parsing cannot drift), calls parse() and runs. What every program
// gets:
// - `--version`: "minibit-<prog> <version> (<git commit>)", the commit "unknown" when the build
//   had no git checkout;
// - `-h/--help` on the program and on every subcommand (and `prog help [COMMAND]`), answered
//   before anything else is read, so a broken config file or a bad value cannot hide it;
// - a usage error is one line on stderr, "minibit-<prog>: <reason> (try: ... --help)", exit 2
//   (runtime errors: one line, exit 1; see run_guarded);
// - with enable_config(): `--config FILE`, TOML (`key = value`, a `[COMMAND]` section per
//   subcommand), strict: an unknown key is a usage error naming it; the command line wins over
//   the file; `--print-config` prints the settings in effect as such a file.
// Include this header in as few translation units as possible: CLI11 is slow to compile.
// One thread; a command_line is used once, at start-up.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include "usage_error.hpp"

namespace minibit::apps {

/// Exit statuses every program keeps: success, failure at run time, usage error.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// "minibit-loadgen 0.1.0 (1a2b3c4d5e6f)": the program, the project version, the git commit.
[[nodiscard]] std::string version_line(std::string_view program);

/// One program's command line: a CLI11 app with the conventions above.
class command_line {
public:
    /// `program` is the full name ("minibit-loadgen"); `about` says what it does, for --help.
    command_line(std::string program, const std::string& about);
    command_line(const command_line&) = delete;
    command_line& operator=(const command_line&) = delete;
    command_line(command_line&&) = delete;
    command_line& operator=(command_line&&) = delete;
    ~command_line() = default;

    /// The program's own CLI11 app (for options of a program without subcommands).
    [[nodiscard]] CLI::App& app() { return app_; }
    /// Adds a subcommand (exactly one must then be given); the program's options may follow it.
    CLI::App& add_command(const std::string& name, const std::string& about);
    /// Adds `--config FILE` and `--print-config` (call after the last add_command).
    void enable_config();
    /// Parses argv: nullopt to go on with the values read, else the exit status to end with
    /// (0 after --help, --version or --print-config; 2 after a usage error, its line printed).
    [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv);
    /// The subcommand given (after parse), or nullptr for a program without subcommands.
    [[nodiscard]] CLI::App* command() const;
    /// Reports a usage error found after parse (flags that depend on each other) as parse()
    /// does: one line naming the command's --help; returns 2.
    [[nodiscard]] int refuse(const std::string& reason) const;
    /// The full program name, for messages.
    [[nodiscard]] const std::string& program() const { return program_; }

private:
    [[nodiscard]] std::optional<int> answer_early(const std::vector<std::string>& args) const;
    [[nodiscard]] const CLI::App* help_target(const std::vector<std::string>& args) const;
    [[nodiscard]] int usage_failure(std::string reason, const CLI::App* where) const;
    [[nodiscard]] int print_config() const;

    std::string program_;
    CLI::App app_;
    CLI::Option* config_ = nullptr;
    bool print_config_ = false;
};

/// Runs a program's body: a usage_error is printed as one line with exit 2, any other
/// exception as one line with exit 1.
[[nodiscard]] int run_guarded(std::string_view program, const std::function<int()>& body);

/// True when the user gave the option, on the command line or in the config file.
[[nodiscard]] inline bool given(const CLI::Option* option) {
    return option->count() > 0;
}

// ---- typed flags ---------------------------------------------------------------------------

/// Checks a whole decimal number within [min, max] and writes it back in canonical form (CLI11
/// 2.1.2 alone would read "010" as octal and "-1" as a huge unsigned number).
[[nodiscard]] CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);
/// Checks a decimal number (not hex, inf or nan) within [min, max].
[[nodiscard]] CLI::Validator decimal_number(double min, double max);
/// Checks that the value is one of `choices`.
[[nodiscard]] CLI::Validator one_of(std::vector<std::string> choices);

/// Finishes an option made by the helpers: placeholder, help text, default shown.
CLI::Option* describe(CLI::Option* option, const std::string& placeholder,
                      const std::string& about);

/// The default as --help shows it ("one per core"), for an option whose default value must not
/// be shown or written by --print-config (not in range, or chosen later from other flags).
CLI::Option* shown_default(CLI::Option* option, std::string text);

/// An unsigned count within [min, max]; --help shows the placeholder, range and default.
template <class T>
    requires std::is_unsigned_v<T>
CLI::Option* add_count(CLI::App& app, const std::string& flag, T& value, std::uint64_t min,
                       std::uint64_t max, const std::string& about,
                       const std::string& placeholder = "N") {
    auto* o = app.add_option(flag, value)->transform(whole_number(min, max));
    return describe(o, placeholder, about);
}

/// A decimal number within [min, max], e.g. seconds (placeholder "S") or a rate ("R").
CLI::Option* add_number(CLI::App& app, const std::string& flag, double& value, double min,
                        double max, const std::string& placeholder, const std::string& about);

/// One word out of `choices` (--help lists them).
CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& value,
                        const std::vector<std::string>& choices, const std::string& about);

/// Free text such as a path or a URL (`placeholder` names it in --help).
template <class T>
CLI::Option* add_text(CLI::App& app, const std::string& flag, T& value,
                      const std::string& placeholder, const std::string& about) {
    return describe(app.add_option(flag, value), placeholder, about);
}

/// An on/off switch (`--json`; in a config file `json = true`).
CLI::Option* add_switch(CLI::App& app, const std::string& flag, bool& value,
                        const std::string& about);

}  // namespace minibit::apps
