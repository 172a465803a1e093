// Back-end selection: parse the --io flag, probe io_uring once, fall back to epoll with one line.
#include "minibit/io/reactor.hpp"

#include <fstream>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#include "backends.hpp"

namespace minibit::io {

result<backend_kind> parse_backend_kind(std::string_view text) {
    if (text == "auto") {
        return backend_kind::auto_select;
    }
    if (text == "uring") {
        return backend_kind::uring;
    }
    if (text == "epoll") {
        return backend_kind::epoll;
    }
    return fail(io_errc::bad_backend, "io back end must be auto, uring or epoll", 0);
}

std::string_view to_string(backend_kind kind) {
    switch (kind) {
    case backend_kind::auto_select: return "auto";
    case backend_kind::uring: return "uring";
    case backend_kind::epoll: return "epoll";
    }
    return "?";
}

namespace {

/// Explains an io_uring failure in one line, with the sysctl hint when it applies.
std::string why_no_uring(const error& e) {
    std::string why = e.message();
    std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled");
    int disabled = 0;
    if (sysctl >> disabled && disabled != 0) {
        why += " (kernel.io_uring_disabled=" + std::to_string(disabled) +
               "; sysctl -w kernel.io_uring_disabled=0 enables it)";
    }
    return why;
}

}  // namespace

result<std::unique_ptr<reactor>> make_reactor(backend_kind kind, const reactor_options& options) {
    if (kind == backend_kind::epoll) {
        return make_epoll_reactor(options);
    }
    auto uring = make_uring_reactor(options);
    if (uring || kind == backend_kind::uring) {
        return uring;
    }
    static std::once_flag logged;
    std::call_once(logged, [&] {
        spdlog::info("io: io_uring unavailable, using epoll: {}", why_no_uring(uring.error()));
    });
    return make_epoll_reactor(options);
}

bool uring_available() {
    static const bool available = [] {
        reactor_options small;
        small.ring_entries = 8;
        small.recv_buffer_count = 8;
        small.recv_buffer_size_bytes = 4096;
        return make_uring_reactor(small).has_value();
    }();
    return available;
}

}  // namespace minibit::io
