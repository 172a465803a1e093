#include "minibit/agent/daemon.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/agent/api.hpp"
#include "minibit/agent/control_server.hpp"
#include "minibit/agent/metrics.hpp"
#include "socket_group.hpp"

namespace minibit::agent {
namespace fs = std::filesystem;

namespace {

using namespace std::chrono_literals;

/// A clean stop that takes longer than this (trackers not answering) ends anyway.
constexpr auto shutdown_limit = 10s;

fs::path env_path(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && v[0] == '/' ? fs::path(v) : fs::path();
}

fs::path home() {
    auto h = env_path("HOME");
    return h.empty() ? fs::path("/tmp") : h;
}

/// Signals read through a signalfd (blocked for every thread started afterwards).
class signal_watch {
public:
    signal_watch() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGTERM);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGHUP);
        ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
        fd_ = ::signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC);
    }
    ~signal_watch() {
        if (fd_ >= 0) ::close(fd_);
    }
    signal_watch(const signal_watch&) = delete;
    signal_watch& operator=(const signal_watch&) = delete;
    [[nodiscard]] int fd() const { return fd_; }
    /// The signal read, or 0.
    [[nodiscard]] int take() const {
        signalfd_siginfo info{};
        return ::read(fd_, &info, sizeof info) == sizeof info ? static_cast<int>(info.ssi_signo)
                                                              : 0;
    }

private:
    sigset_t set_{};
    int fd_ = -1;
};

/// The bearer token in `file`: its first line, without surrounding white space; it must be
/// at least 16 characters.
result<std::string> read_token(const fs::path& file) {
    std::ifstream in(file);
    std::string token;
    if (!in || !std::getline(in, token)) {
        return fail(agent_errc::bad_path,
                    fmt::format("cannot read the token file {}", file.string()));
    }
    const auto first = token.find_first_not_of(" \t\r");
    const auto last = token.find_last_not_of(" \t\r");
    token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
    if (token.size() < 16) {
        return fail(agent_errc::bad_request,
                    fmt::format("the token in {} is shorter than 16 characters", file.string()));
    }
    std::error_code ec;
    const auto perms = fs::status(file, ec).permissions();
    if (!ec && (perms & fs::perms::others_read) != fs::perms::none) {
        spdlog::warn("the token file {} is readable by every user", file.string());
    }
    return token;
}

/// The optional TCP listeners: the control API with a token, and read-only metrics.
struct tcp_listeners {
    std::unique_ptr<control_server> api;
    std::unique_ptr<control_server> metrics;
};

result<tcp_listeners> open_tcp_listeners(io::reactor& loop, const daemon_options& o, agent& ag,
                                         latency_histogram& latency) {
    tcp_listeners out;
    if (!o.api_address.empty()) {
        if (o.api_token_file.empty()) {
            return fail(agent_errc::bad_request, "--api needs --api-token-file");
        }
        auto token = read_token(o.api_token_file);
        if (!token) return std::unexpected(token.error());
        auto api = control_server::open_tcp(
            loop, o.api_address, std::move(*token),
            [&ag, &latency](const api_request& req, respond_fn respond) {
                handle_api(ag, latency, req, std::move(respond));
            });
        if (!api) return std::unexpected(api.error());
        spdlog::info("control API on tcp {} (bearer token required)", o.api_address);
        out.api = std::move(*api);
    }
    if (!o.metrics_address.empty()) {
        auto m = control_server::open_tcp(
            loop, o.metrics_address, "",
            [&ag, &latency](const api_request& req, respond_fn respond) {
                handle_metrics_only(ag, latency, req, std::move(respond));
            });
        if (!m) return std::unexpected(m.error());
        spdlog::info("metrics on tcp {}", o.metrics_address);
        out.metrics = std::move(*m);
    }
    return out;
}

/// SIGHUP: re-reads the settings and applies what can change at run time; a setting that takes
/// a restart is logged once; settings that cannot be read change nothing.
void reload_settings(agent& ag, const std::function<result<agent_options>()>& reload,
                     std::set<std::string>& told) {
    if (!reload) {
        spdlog::warn("SIGHUP: no config file to re-read");
        return;
    }
    auto next = reload();
    if (!next) {
        spdlog::error("reload refused, nothing changed: {}", next.error().reason);
        return;
    }
    auto applied = ag.reconfigure(*next);
    if (!applied) {
        spdlog::error("reload refused, nothing changed: {}", applied.error().reason);
        return;
    }
    for (const auto& line : *applied) {
        if (told.insert(line).second) spdlog::warn("reload: {}", line);
    }
    spdlog::info("reloaded the settings");
}

}  // namespace

fs::path default_state_dir() {
    if (::geteuid() == 0) return "/var/lib/minibit";
    auto x = env_path("XDG_STATE_HOME");
    return (x.empty() ? home() / ".local/state" : x) / "minibit" / "agent";
}

fs::path default_socket_path() {
    if (::geteuid() == 0) return "/run/minibit/agent.sock";
    auto x = env_path("XDG_RUNTIME_DIR");
    if (x.empty()) return fs::path(fmt::format("/tmp/minibit-{}", ::getuid())) / "agent.sock";
    return x / "minibit" / "agent.sock";
}

fs::path default_download_dir() {
    if (::geteuid() == 0) return "/var/lib/minibit/downloads";
    auto x = env_path("XDG_DOWNLOAD_DIR");
    return x.empty() ? home() / "Downloads" : x;
}

result<void> run_daemon(daemon_options options) {
    signal_watch signals;  // before any thread starts, so every thread has them blocked
    if (signals.fd() < 0) {
        return fail(agent_errc::state, "cannot create a signalfd");
    }
    auto reactor = io::make_reactor(options.settings.backend, {});
    if (!reactor) {
        return fail(agent_errc::state, "cannot create the reactor: " + reactor.error().message());
    }
    io::reactor& loop = **reactor;
    std::optional<gid_t> group;
    if (!options.socket_group.empty()) {
        auto g = find_group(options.socket_group);
        if (!g) return std::unexpected(g.error());
        group = *g;
    }
    latency_histogram latency;  // before the agent and the servers: outlives their answers
    auto a = agent::open(loop, options.settings);
    if (!a) {
        return std::unexpected(a.error());
    }
    for (const auto& w : (*a)->load_warnings()) {
        spdlog::warn("{}", w);
    }
    agent& ag = **a;
    auto server = control_server::open(loop, options.socket_path,
                                       [&ag, &latency](const api_request& req, respond_fn respond) {
                                           handle_api(ag, latency, req, std::move(respond));
                                       });
    if (!server) {
        return std::unexpected(server.error());
    }
    if (group) {
        if (auto given = give_socket_to_group(options.socket_path, *group); !given) {
            return std::unexpected(given.error());
        }
    }
    auto tcp = open_tcp_listeners(loop, options, ag, latency);
    if (!tcp) {
        return std::unexpected(tcp.error());
    }
    bool stopping = false;
    std::set<std::string> told;  // "needs a restart" lines already logged
    auto sig_watch = loop.watch_fd(signals.fd(), io::fd_interest::read, [&](io::fd_interest) {
        const int sig = signals.take();
        if (sig == 0 || stopping) return;
        if (sig == SIGHUP) {
            reload_settings(ag, options.reload, told);
            return;
        }
        stopping = true;
        spdlog::info("signal {}: stopping every torrent", sig);
        server->reset();
        tcp->api.reset();
        tcp->metrics.reset();
        ag.shutdown([&loop] { loop.stop(); });
        loop.add_timer(shutdown_limit, [&loop] { loop.stop(); });
    });
    if (!sig_watch) {
        return fail(agent_errc::state, "cannot watch signals: " + sig_watch.error().message());
    }
    std::function<void()> tick;
    tick = [&] {
        if (options.on_tick) options.on_tick();
        loop.add_timer(1s, tick);
    };
    loop.add_timer(1s, tick);
    spdlog::info("agent ready: {} torrents, peer port {}, control socket {}", ag.list().size(),
                 ag.port(), options.socket_path.string());
    if (options.on_ready) options.on_ready(ag);
    auto ran = loop.run();
    loop.unwatch_fd(*sig_watch);
    server->reset();
    tcp->api.reset();
    tcp->metrics.reset();
    a->reset();
    if (!ran) {
        return std::unexpected(ran.error());
    }
    return {};
}

}  // namespace minibit::agent
