#include "minibit/agent/daemon.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <future>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/agent/api.hpp"
#include "minibit/agent/control_server.hpp"
#include "minibit/agent/metrics.hpp"
#include "minibit/core/small_file.hpp"
#include "minibit/io/runner.hpp"
#include "shard.hpp"
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
    auto line = read_first_line(file);
    if (!line) {
        return fail(agent_errc::bad_path,
                    fmt::format("cannot read the token file {}", line.error().reason));
    }
    std::string token = std::move(*line);
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

namespace {

/// What lives on the home reactor (thread 0): the agent, its servers and the signal watch.
struct home_services {
    std::unique_ptr<agent> ag;
    std::unique_ptr<control_server> server;
    tcp_listeners tcp;
    std::optional<io::watch_id> signal_watch;
    bool stopping = false;
    std::set<std::string> told;  ///< "needs a restart" lines already logged
};

/// The watchdog's view of the reactors: each answers a ping by storing its round.
class reactor_pings {
public:
    explicit reactor_pings(unsigned n) : answered_(n) {}
    /// True when every reactor answered the last round; then starts the next one. Home thread.
    bool all_answered_then_ping(io::runner& runner) {
        bool all = true;
        for (const auto& a : answered_) all = all && a.load(std::memory_order_acquire) == round_;
        ++round_;
        for (unsigned k = 0; k < answered_.size(); ++k) {
            runner.post(
                k, [this, k, r = round_] { answered_[k].store(r, std::memory_order_release); });
        }
        return all;
    }

private:
    std::vector<std::atomic<std::uint64_t>> answered_;
    std::uint64_t round_ = 0;
};

/// Opens the agent and its servers on the home reactor; the agent's torrents run on `shards`.
result<void> open_home(io::reactor& loop, home_services& home, const daemon_options& options,
                       const std::vector<shard*>& shards, latency_histogram& latency,
                       std::optional<gid_t> group) {
    auto a = agent::open(loop, options.settings, shards);
    if (!a) return std::unexpected(a.error());
    for (const auto& w : (*a)->load_warnings()) spdlog::warn("{}", w);
    home.ag = std::move(*a);
    agent& ag = *home.ag;
    auto server = control_server::open(loop, options.socket_path,
                                       [&ag, &latency](const api_request& req, respond_fn respond) {
                                           handle_api(ag, latency, req, std::move(respond));
                                       });
    if (!server) return std::unexpected(server.error());
    home.server = std::move(*server);
    if (group) {
        if (auto given = give_socket_to_group(options.socket_path, *group); !given) {
            return std::unexpected(given.error());
        }
    }
    auto tcp = open_tcp_listeners(loop, options, ag, latency);
    if (!tcp) return std::unexpected(tcp.error());
    home.tcp = std::move(*tcp);
    return {};
}

/// SIGTERM/SIGINT: close the servers, stop every torrent, then every reactor. SIGHUP: reload.
result<void> watch_signals(io::reactor& loop, home_services& home, const signal_watch& signals,
                           const daemon_options& options, io::runner& runner) {
    auto w = loop.watch_fd(signals.fd(), io::fd_interest::read, [&](io::fd_interest) {
        const int sig = signals.take();
        if (sig == 0 || home.stopping) return;
        if (sig == SIGHUP) {
            reload_settings(*home.ag, options.reload, home.told);
            return;
        }
        home.stopping = true;
        spdlog::info("signal {}: stopping every torrent", sig);
        home.server.reset();
        home.tcp.api.reset();
        home.tcp.metrics.reset();
        home.ag->shutdown([&runner] { runner.stop(); });
        loop.add_timer(shutdown_limit, [&runner] { runner.stop(); });
    });
    if (!w) return fail(agent_errc::state, "cannot watch signals: " + w.error().message());
    home.signal_watch = *w;
    return {};
}

}  // namespace

result<void> run_daemon(daemon_options options) {
    signal_watch signals;  // before any thread starts, so every thread has them blocked
    if (signals.fd() < 0) {
        return fail(agent_errc::state, "cannot create a signalfd");
    }
    std::optional<gid_t> group;
    if (!options.socket_group.empty()) {
        auto g = find_group(options.socket_group);
        if (!g) return std::unexpected(g.error());
        group = *g;
    }
    latency_histogram latency;  // before the agent and the servers: outlives their answers
    io::runner_options ro;
    ro.threads = options.threads;
    ro.backend = options.settings.backend;
    const unsigned n = ro.threads == 0 ? io::usable_cpus() : ro.threads;
    ro.threads = n;
    std::vector<std::unique_ptr<shard>> shards(n);
    home_services home;
    io::reactor* home_loop = nullptr;
    auto init = [&](io::reactor& r, unsigned k) {
        shards[k] = std::make_unique<shard>(r);
        if (k == 0) home_loop = &r;
    };
    // Each reactor's part dies on its own thread once its loop ended; the agent before shard 0.
    auto finish = [&](io::reactor& r, unsigned k) {
        if (k == 0) {
            if (home.signal_watch) r.unwatch_fd(*home.signal_watch);
            home.server.reset();
            home.tcp = {};
            home.ag.reset();
        }
        shards[k].reset();
    };
    auto runner = io::runner::start(ro, init, finish);
    if (!runner) {
        return fail(agent_errc::state, "cannot start the reactors: " + runner.error().message());
    }
    io::runner& threads = **runner;
    reactor_pings pings(n);
    std::promise<result<void>> opened;
    std::function<void()> tick;
    threads.post(0, [&] {
        std::vector<shard*> raw;
        raw.reserve(shards.size());
        for (auto& s : shards) raw.push_back(s.get());
        auto r = open_home(*home_loop, home, options, raw, latency, group);
        if (r) r = watch_signals(*home_loop, home, signals, options, threads);
        if (!r) {
            opened.set_value(std::move(r));
            return;
        }
        // The watchdog is fed only while every reactor answers its ping within the second.
        tick = [&] {
            if (pings.all_answered_then_ping(threads) && options.on_tick) options.on_tick();
            home_loop->add_timer(1s, tick);
        };
        home_loop->add_timer(1s, tick);
        spdlog::info("agent ready: {} torrents on {} reactors, peer port {}, control socket {}",
                     home.ag->list().size(), n, home.ag->port(), options.socket_path.string());
        if (options.on_ready) options.on_ready(*home.ag);
        opened.set_value({});
    });
    auto started = opened.get_future().get();
    if (!started) threads.stop();
    threads.join();
    return started;
}

}  // namespace minibit::agent
