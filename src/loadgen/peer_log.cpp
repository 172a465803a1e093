#include "peer_log.hpp"

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "minibit/loadgen/loadgen_error.hpp"

namespace minibit::loadgen {
namespace {

thread_local std::int64_t tls_peer = -1;

// Closes a FILE* opened by the sink.
struct file_closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

// Writes "[peer K] <formatted line>" to peers.log, or each peer's lines to its own file
// (opened on its first line, so quiet peers cost no descriptor).
class peer_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    peer_sink(std::filesystem::path dir, log_layout split, file_ptr common)
        : dir_(std::move(dir)), split_(split), common_(std::move(common)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t line;
        formatter_->format(msg, line);
        const std::int64_t peer = current_peer();
        std::FILE* out = common_.get();
        if (split_ == log_layout::per_peer && peer >= 0) {
            out = file_for(peer);
        } else if (peer >= 0) {
            const auto tag = fmt::format("[peer {}] ", peer);
            std::fwrite(tag.data(), 1, tag.size(), out);
        } else {
            std::fwrite("[loadgen] ", 1, 10, out);
        }
        if (out != nullptr) std::fwrite(line.data(), 1, line.size(), out);
        if (out != nullptr && msg.level >= spdlog::level::warn) std::fflush(out);
    }
    void flush_() override {
        std::fflush(common_.get());
        for (auto& [peer, f] : files_) std::fflush(f.get());
    }

private:
    std::FILE* file_for(std::int64_t peer) {
        auto it = files_.find(peer);
        if (it == files_.end()) {
            const auto path = dir_ / fmt::format("peer-{}.log", peer);
            file_ptr f(std::fopen(path.c_str(), "we"));
            // A file that cannot be opened sends the peer's lines to the common log.
            it = files_.emplace(peer, std::move(f)).first;
        }
        return it->second ? it->second.get() : common_.get();
    }

    std::filesystem::path dir_;
    log_layout split_;
    file_ptr common_;
    std::map<std::int64_t, file_ptr> files_;
};

}  // namespace

std::int64_t current_peer() {
    return tls_peer;
}

peer_scope::peer_scope(std::int64_t peer) : saved_(tls_peer) {
    tls_peer = peer;
}

peer_scope::~peer_scope() {
    tls_peer = saved_;
}

result<void> install_peer_log(const std::filesystem::path& dir, log_layout split,
                              const std::string& level_text) {
    const auto level = spdlog::level::from_str(level_text);
    if (level == spdlog::level::off && level_text != "off") {
        return fail(loadgen_errc::io, fmt::format("bad log level '{}'", level_text));
    }
    const auto common_path = dir / "peers.log";
    file_ptr common(std::fopen(common_path.c_str(), "we"));
    if (!common) {
        return fail(loadgen_errc::io, fmt::format("cannot write {}", common_path.string()));
    }
    auto sink = std::make_shared<peer_sink>(dir, split, std::move(common));
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    auto logger = std::make_shared<spdlog::logger>("minibit", std::move(sink));
    logger->set_level(level);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
    spdlog::flush_every(std::chrono::seconds(1));
    return {};
}

void remove_peer_log() {
    spdlog::default_logger()->flush();
    auto logger = std::make_shared<spdlog::logger>(
        "minibit", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace minibit::loadgen
