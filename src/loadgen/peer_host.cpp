#include "peer_host.hpp"

#include <csignal>

#include <fmt/format.h>

namespace minibit::loadgen {
namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
    return fmt::format("{:.3f}", static_cast<double>(ms.count()) / 1000.0);
}

class process_host final : public peer_host {
public:
    explicit process_host(std::filesystem::path peer_bin) : peer_bin_(std::move(peer_bin)) {}

    result<void> start(const peer_plan& plan) override {
        auto child = child_process::launch({peer_bin_, get_arguments(plan), plan.log});
        if (!child) return std::unexpected(child.error());
        child_.emplace(std::move(*child));
        complete_file_ = plan.complete_file;
        return {};
    }
    result<void> confirm_start() override {
        return child_ ? child_->confirm_exec() : result<void>{};
    }
    // The peer's own --complete-file marker (one stat).
    [[nodiscard]] bool completed() const override {
        std::error_code ec;
        return !complete_file_.empty() && std::filesystem::exists(complete_file_, ec);
    }
    bool poll() override { return child_ && child_->poll(); }
    [[nodiscard]] std::optional<exit_status> status() const override {
        return child_ ? child_->status() : std::nullopt;
    }
    void kill_now() override {
        if (child_) child_->kill_and_reap();
    }
    void request_stop() override {
        if (child_) child_->send(SIGTERM);
    }
    void stop(std::chrono::milliseconds grace) override {
        if (child_) child_->terminate(grace);
    }

private:
    std::filesystem::path peer_bin_;
    std::optional<child_process> child_;
    std::filesystem::path complete_file_;
};

}  // namespace

std::vector<std::string> get_arguments(const peer_plan& p) {
    std::vector<std::string> args = {
        "get",          p.torrent.string(),
        "-o",           p.folder.string(),
        "--port",       std::to_string(p.port),
        "--numwant",    std::to_string(p.numwant),
        "--max-peers",  std::to_string(p.max_peers),
        "--seed-for",   seconds_text(p.seed_for),
        "--stats-json", p.stats_json.string(),
        "--log",        p.log.string(),
        "--log-level",  p.log_level,
        "--io",         p.io,
        "--timeout",    seconds_text(p.timeout),
    };
    if (!p.complete_file.empty()) {
        args.emplace_back("--complete-file");
        args.push_back(p.complete_file.string());
    }
    if (p.origin) {
        args.emplace_back("--origin");
    }
    if (p.upload_limit > 0) {
        args.emplace_back("--upload-limit");
        args.push_back(std::to_string(p.upload_limit));
    }
    if (p.rechoke_seconds) {
        args.emplace_back("--rechoke-interval");
        args.push_back(fmt::format("{:.3f}", *p.rechoke_seconds));
    }
    return args;
}

std::unique_ptr<peer_host> make_process_host(std::filesystem::path peer_bin) {
    return std::make_unique<process_host>(std::move(peer_bin));
}

}  // namespace minibit::loadgen
