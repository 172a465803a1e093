#include "cli.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "minibit/core/small_file.hpp"

namespace minibit::apps {
namespace {

constexpr std::size_t help_width = 100;  // columns of --help text
constexpr std::size_t flag_column = 28;  // where the descriptions start
constexpr std::uint64_t max_config_bytes = 1U << 20U;

// CLI11 opens a config file with std::ifstream, which waits for a writer forever on a FIFO and
// reads a device without end: each file --config names is checked first, without waiting (a
// missing file is left to CLI11's own message).
std::optional<std::string> unusable_config(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
        std::string file;
        if (args[i] == "--config" && i + 1 < args.size()) {
            file = args[i + 1];
        } else if (args[i].starts_with("--config=")) {
            file = args[i].substr(std::string_view("--config=").size());
        } else {
            continue;
        }
        auto text = read_small_file(file, max_config_bytes);
        if (!text && !is(text.error(), file_errc::io)) return "--config " + text.error().reason;
    }
    return std::nullopt;
}

// "N:1..1000" (CLI11 appends the validators' descriptions to the type name): ("N", "1..1000").
// A placeholder that holds a colon itself ("ADDR:PORT") stays whole.
std::pair<std::string, std::string> split_type_name(const std::string& type) {
    const auto colon = type.find(':');
    if (colon == std::string::npos) return {type, {}};
    const auto rest = std::string_view(type).substr(colon + 1);
    if (rest.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string_view::npos)
        return {type, {}};
    return {type.substr(0, colon), type.substr(colon + 1)};
}

// Defaults as --help shows them where the value itself must not be printed or written by
// --print-config (shown_default()). Read only while --help is formatted; one thread.
std::map<const CLI::Option*, std::string>& shown_defaults() {
    static std::map<const CLI::Option*, std::string> texts;
    return texts;
}

// Breaks `text` into lines of at most `width` characters at spaces, keeping its own line
// breaks (CLI11 2.1.2 indents the lines after a newline under the description column).
std::string wrap(const std::string& text, std::size_t width) {
    std::string out;
    std::size_t line = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = std::min(text.find_first_of(" \n", at), text.size());
        const std::string_view word(text.data() + at, end - at);
        if (line > 0 && line + 1 + word.size() > width) {
            out += '\n';
            line = 0;
        } else if (line > 0) {
            out += ' ';
            ++line;
        }
        out += word;
        line += word.size();
        if (end < text.size() && text[end] == '\n') {
            out += '\n';
            line = 0;
        }
        at = end + 1;
    }
    return out;
}

// The first sentence of a description, for the list of subcommands.
std::string first_sentence(const std::string& text) {
    const auto end = text.find(". ");
    return end == std::string::npos ? text : text.substr(0, end + 1);
}

// --help lines as "  --peers N        what it is (1..1000, default 10)", wrapped to 100 columns.
class help_formatter final : public CLI::Formatter {
public:
    help_formatter() { column_width(flag_column); }

    std::string make_option_opts(const CLI::Option* opt) const override {
        if (opt->get_expected_min() == 0) return {};
        const auto [label, range] = split_type_name(opt->get_type_name());
        std::string out = " " + (label.empty() ? range : label);
        if (opt->get_expected_max() > 1) out += " ...";
        return out;
    }

    std::string make_option_desc(const CLI::Option* opt) const override {
        std::string text = opt->get_description();
        const auto [label, range] = split_type_name(opt->get_type_name());
        std::string notes;
        if (!label.empty() && !range.empty()) notes = range;
        const auto shown = shown_defaults().find(opt);
        const std::string fallback = shown != shown_defaults().end() ? shown->second
                                                                     : opt->get_default_str();
        if (!fallback.empty()) notes += (notes.empty() ? "default " : "; default ") + fallback;
        if (!notes.empty()) text += " (" + notes + ")";
        return wrap(text, help_width - flag_column);
    }

    std::string make_description(const CLI::App* app) const override {
        const std::string text = app->get_description();
        return text.empty() ? std::string() : wrap(text, help_width) + "\n\n";
    }

    std::string make_subcommand(const CLI::App* sub) const override {
        std::stringstream out;
        CLI::detail::format_help(
            out, sub->get_name(),
            wrap(first_sentence(sub->get_description()), help_width - flag_column), column_width_);
        return out.str();
    }

    std::string make_footer(const CLI::App* app) const override {
        const std::string text = app->get_footer();
        return text.empty() ? std::string() : wrap(text, help_width) + "\n";
    }
};

// One line, whatever CLI11 put in the message.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

// CLI11's words for a config file's unknown key ("INI was not able to parse swarm.typo"; a
// whole unknown section comes as "nosuch.++") as a reason that names the key.
// A key from a config file as a message may show it: bytes outside printable ASCII escaped, at
// most 60 of them (a binary file named by mistake must not fill the terminal with garbage).
std::string printable_key(std::string_view key) {
    std::string out;
    for (const char c : key.substr(0, 60)) {
        const auto u = static_cast<unsigned char>(c);
        out += u >= 0x20 && u < 0x7f ? std::string(1, c) : fmt::format("\\x{:02x}", u);
    }
    return key.size() > 60 ? out + "..." : out;
}

std::string config_reason(const std::string& what, const std::string& file) {
    constexpr std::string_view prefix = "INI was not able to parse ";
    if (!what.starts_with(prefix)) return fmt::format("--config {}: {}", file, what);
    std::string key = printable_key(std::string_view(what).substr(prefix.size()));
    if (key.ends_with(".++")) {
        return fmt::format("--config {}: unknown section [{}]", file,
                           key.substr(0, key.size() - 3));
    }
    return fmt::format("--config {}: unknown key '{}'", file, key);
}

// A subcommand of `app` named `name` (nullptr when there is none).
const CLI::App* find_command(const CLI::App& app, const std::string& name) {
    const auto found = app.get_subcommands(
        [&name](const CLI::App* sub) { return sub->get_name() == name; });
    return found.empty() ? nullptr : found.front();
}

// The option `name` of `app` or of a parent it falls through to.
const CLI::Option* find_option(const CLI::App* app, const std::string& name) {
    for (; app != nullptr; app = app->get_parent()) {
        if (const auto* o = app->get_option_no_throw(name)) return o;
    }
    return nullptr;
}

// The subcommands of `app`.
std::vector<const CLI::App*> commands_of(const CLI::App& app) {
    return app.get_subcommands([](const CLI::App*) { return true; });
}

// "minibit-loadgen swarm" for the swarm subcommand.
std::string full_name(const CLI::App* app) {
    std::string name = app->get_name();
    for (const auto* p = app->get_parent(); p != nullptr; p = p->get_parent())
        name.insert(0, " ").insert(0, p->get_name());
    return name;
}

// "# "-prefixed lines of a description already wrapped for --help.
std::string comment(const std::string& text) {
    std::string out = "# ";
    for (const char c : text) {
        out += c;
        if (c == '\n') out += "# ";
    }
    return out + "\n";
}

// A value as TOML: numbers and booleans bare, anything else quoted.
std::string toml_value(const std::string& v) {
    if (v == "true" || v == "false") return v;
    double number = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), number);
    if (!v.empty() && ec == std::errc{} && end == v.data() + v.size()) return v;
    return v.find('"') == std::string::npos ? "\"" + v + "\"" : "'" + v + "'";
}

// The option's setting for --print-config, if it has one (given, or a default that is a value).
std::optional<std::string> config_value(const CLI::Option& o) {
    if (o.get_expected_min() == 0) return o.count() > 0 && o.as<bool>() ? "true" : "false";
    if (o.count() > 0) {
        const auto values = o.reduced_results();
        if (values.size() == 1) return toml_value(values.front());
        std::string list;
        for (const auto& v : values) list += (list.empty() ? "" : ", ") + toml_value(v);
        return "[" + list + "]";
    }
    if (!o.get_default_str().empty()) return toml_value(o.get_default_str());
    return std::nullopt;
}

}  // namespace

command_line::command_line(std::string program, const std::string& about)
    : program_(std::move(program)), app_(about, program_) {
    app_.formatter(std::make_shared<help_formatter>());
    app_.set_help_flag("-h,--help", "print this help and exit");
    app_.set_version_flag("--version", version_line(program_),
                          "print the version and the git commit of this build, and exit");
    // A flag given twice keeps its last value (scripts append overrides).
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::App& command_line::add_command(const std::string& name, const std::string& about) {
    app_.require_subcommand(1);
    CLI::App* sub = app_.add_subcommand(name, about);
    sub->fallthrough();  // the program's own flags (--config, ...) may follow the command
    return *sub;
}

void command_line::enable_config() {
    config_ = app_.set_config("--config", "",
                              "read settings from a TOML file: key = value lines, a [COMMAND] "
                              "section per command; the command line wins over the file");
    config_->type_name("FILE");
    app_.allow_config_extras(CLI::config_extras_mode::error);
    app_.add_flag("--print-config", print_config_,
                  "print the settings in effect (defaults, the file, the command line) as a "
                  "config file, and exit")
        ->configurable(false);
    for (CLI::App* sub : app_.get_subcommands([](CLI::App*) { return true; })) {
        const std::string also = fmt::format(
            "Also: --config FILE, --print-config, --version (see {} --help).", program_);
        const std::string footer = sub->get_footer();
        sub->footer(footer.empty() ? also : fmt::format("{}\n\n{}", footer, also));
    }
}

std::optional<int> command_line::parse(int argc, const char* const* argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    if (auto early = answer_early(args)) return early;
    if (config_ != nullptr) {
        if (auto bad = unusable_config(args)) return usage_failure(*bad, help_target(args));
    }
    try {
        app_.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app_.exit(e);
    } catch (const CLI::FileError& e) {
        return usage_failure(fmt::format("--config: {}", e.what()), help_target(args));
    } catch (const CLI::ConfigError& e) {
        const std::string file = config_ != nullptr ? config_->as<std::string>() : std::string();
        return usage_failure(config_reason(e.what(), file), help_target(args));
    } catch (const CLI::ParseError& e) {
        if (!commands_of(app_).empty() && command() == nullptr) {
            const auto left = app_.remaining();
            if (left.empty()) return usage_failure("missing COMMAND", &app_);
            if (!left.front().starts_with("-"))
                return usage_failure(fmt::format("unknown command '{}'", left.front()), &app_);
        }
        return usage_failure(e.what(), help_target(args));
    }
    if (print_config_) return print_config();
    return std::nullopt;
}

CLI::App* command_line::command() const {
    const auto chosen = app_.get_subcommands();
    return chosen.empty() ? nullptr : chosen.front();
}

// --help, -h, `help [COMMAND]` and --version are answered before anything is parsed.
std::optional<int> command_line::answer_early(const std::vector<std::string>& args) const {
    bool help = false;
    bool version = false;
    for (const auto& a : args) {
        if (a == "--") break;
        help = help || a == "-h" || a == "--help";
        version = version || a == "--version";
    }
    const bool has_commands = !commands_of(app_).empty();
    if (has_commands && !args.empty() && args.front() == "help") help = true;
    if (help) {
        const CLI::App* target = help_target(args);
        const auto* parent = target->get_parent();
        fmt::print("{}", target->help(parent != nullptr ? full_name(parent) : std::string()));
        return exit_ok;
    }
    if (version) {
        fmt::print("{}\n", version_line(program_));
        return exit_ok;
    }
    return std::nullopt;
}

// The (sub)command the arguments name, skipping option values: whose help to show.
const CLI::App* command_line::help_target(const std::vector<std::string>& args) const {
    const CLI::App* at = &app_;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") break;
        if (a.starts_with("-")) {
            const auto* o = a.find('=') == std::string::npos ? find_option(at, a) : nullptr;
            if (o != nullptr && o->get_expected_min() > 0) ++i;  // its value
            continue;
        }
        if (const auto* sub = find_command(*at, a)) at = sub;
    }
    return at;
}

int command_line::refuse(const std::string& reason) const {
    return usage_failure(reason, command() != nullptr ? command() : &app_);
}

int command_line::usage_failure(std::string reason, const CLI::App* where) const {
    fmt::print(stderr, "{}: {} (try: {} --help)\n", program_, one_line(std::move(reason)),
               full_name(where));
    return exit_usage;
}

// TOML written so that reading it back gives the same settings: a value the user gave or a
// default that is a value; an option without one (shown_default) stays a comment.
int command_line::print_config() const {
    const CLI::App* target = command() != nullptr ? command() : &app_;
    std::string text = fmt::format("# {}: the settings in effect\n", full_name(target));
    if (target != &app_) text += fmt::format("[{}]\n", target->get_name());
    const help_formatter help;
    const auto configurable = [](const CLI::Option* o) { return o->get_configurable(); };
    for (const CLI::Option* o : target->get_options(configurable)) {
        const std::string key = o->get_single_name();
        if (key.empty()) continue;
        text += "\n" + comment(help.make_option_desc(o));
        const auto value = config_value(*o);
        text += value ? fmt::format("{} = {}\n", key, *value) : fmt::format("# {} =\n", key);
    }
    fmt::print("{}", text);
    return exit_ok;
}

int run_guarded(std::string_view program, const std::function<int()>& body) {
    try {
        return body();
    } catch (const usage_error& e) {
        fmt::print(stderr, "{}: {}\n", program, one_line(e.what()));
        return exit_usage;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", program, one_line(e.what()));
        return exit_failure;
    }
}

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
    const std::string range = max == std::numeric_limits<std::uint64_t>::max()
                                  ? fmt::format("{} or more", min)
                                  : fmt::format("{}..{}", min, max);
    return CLI::Validator(
        [min, max](std::string& text) -> std::string {
            std::uint64_t v = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
                return fmt::format("'{}' is not a whole number", text);
            if (v < min || v > max) return fmt::format("{} is outside {}..{}", v, min, max);
            text = std::to_string(v);  // canonical: CLI11 would read "010" as octal
            return {};
        },
        range);
}

CLI::Validator decimal_number(double min, double max) {
    return CLI::Validator(
        [min, max](std::string& text) -> std::string {
            double v = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
                !std::isfinite(v))
                return fmt::format("'{}' is not a number", text);
            if (v < min || v > max) return fmt::format("{} is outside {}..{}", text, min, max);
            return {};
        },
        fmt::format("{}..{}", min, max));
}

CLI::Validator one_of(std::vector<std::string> choices) {
    std::string list = fmt::format("{}", fmt::join(choices, "|"));
    return {[choices = std::move(choices)](std::string& text) -> std::string {
                for (const auto& c : choices) {
                    if (text == c) return {};
                }
                return fmt::format("'{}' is not one of {}", text, fmt::join(choices, ", "));
            },
            list};
}

CLI::Option* shown_default(CLI::Option* option, std::string text) {
    option->default_str("");
    shown_defaults()[option] = std::move(text);
    return option;
}

CLI::Option* describe(CLI::Option* option, const std::string& placeholder,
                      const std::string& about) {
    return option->type_name(placeholder)->description(about)->capture_default_str();
}

CLI::Option* add_number(CLI::App& app, const std::string& flag, double& value, double min,
                        double max, const std::string& placeholder, const std::string& about) {
    return describe(app.add_option(flag, value)->check(decimal_number(min, max)), placeholder,
                    about);
}

CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& value,
                        const std::vector<std::string>& choices, const std::string& about) {
    return describe(app.add_option(flag, value)->check(one_of(choices)), "", about);
}

CLI::Option* add_switch(CLI::App& app, const std::string& flag, bool& value,
                        const std::string& about) {
    return app.add_flag(flag, value, about);
}

}  // namespace minibit::apps
