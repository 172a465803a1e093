#include "http_fetcher.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "minibit/core/assert.hpp"
#include "minibit/swarm/torrent_options.hpp"

namespace minibit::swarm {

/// One GET in flight: its easy handle, bounds and what arrived so far.
struct http_fetcher::request {
    CURL* easy = nullptr;
    http_fetcher::request_id id = 0;
    http_get_options options;
    http_fetcher::done_fn done;
    io::scope::handle reply;  ///< where `done` runs: the requester's scope
    std::string body;
    std::size_t head_bytes = 0;
    bool too_large = false;
    char error[CURL_ERROR_SIZE] = {};
};

namespace {

/// curl_global_init is not thread-safe before 7.84 and must run once per process.
void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* r = static_cast<http_fetcher::request*>(user);
    const std::size_t n = size * count;
    if (r->body.size() + n > r->options.max_body_bytes) {
        r->too_large = true;
        return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
    r->body.append(data, n);
    return n;
}

std::size_t on_header(char* /*data*/, std::size_t size, std::size_t count, void* user) {
    auto* r = static_cast<http_fetcher::request*>(user);
    r->head_bytes += size * count;
    if (r->head_bytes > r->options.max_head_bytes) {
        r->too_large = true;
        return 0;
    }
    return size * count;
}

/// The CA file to trust: the option, else $CURL_CA_BUNDLE, else $SSL_CERT_FILE, else none
/// (libcurl's built-in system bundle).
std::string ca_file_of(const http_get_options& o) {
    if (!o.ca_file.empty()) return o.ca_file;
    for (const char* name : {"CURL_CA_BUNDLE", "SSL_CERT_FILE"}) {
        const char* v = std::getenv(name);
        if (v != nullptr && v[0] != '\0') return v;
    }
    return {};
}

/// Cached connections a fetcher keeps for reuse (CURLMOPT_MAXCONNECTS). libcurl's default,
/// 4 per transfer ever running at once, would keep hundreds of idle sockets after the started
/// announces of a few hundred in-process peers; they mostly ask one tracker, so a few do.
constexpr long max_cached_connections = 16;

/// The fetchers of this thread's loops, held weakly: holders (tracker and scrape clients on
/// the loop's thread) own a fetcher; this only finds it. A handful of loops per thread at most.
thread_local std::vector<std::pair<const io::reactor*, std::weak_ptr<http_fetcher>>> loop_fetchers;

}  // namespace

namespace {

/// One line saying why a transfer failed: what users of curl and browsers would recognise.
std::string describe_failure(CURL* easy, CURLcode code, const http_fetcher::request& r) {
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    std::string detail = r.error[0] != '\0' ? r.error : curl_easy_strerror(code);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return fmt::format("HTTP announce timed out after {} ms", r.options.timeout.count());
    case CURLE_COULDNT_RESOLVE_HOST: return "DNS: " + detail;
    case CURLE_COULDNT_CONNECT:
        if (os_errno != 0) {
            return fmt::format("cannot connect: {}", std::strerror(static_cast<int>(os_errno)));
        }
        return "cannot connect: " + detail;
    case CURLE_FILESIZE_EXCEEDED: return "HTTP response too large";
    case CURLE_WRITE_ERROR:
        if (r.too_large) return "HTTP response too large";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE: return "TLS: " + detail;
    default: break;
    }
    return detail;
}

}  // namespace

http_fetcher::http_fetcher(io::reactor& reactor) : reactor_(reactor), scope_(reactor) {}

bool http_fetcher::asynchronous_dns() {
    global_init();
    const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
    return v != nullptr && (v->features & CURL_VERSION_ASYNCHDNS) != 0;
}

result<std::unique_ptr<http_fetcher>> http_fetcher::create(io::reactor& reactor) {
    global_init();
    if (!asynchronous_dns()) {
        // A synchronous resolver would block the reactor on every host name.
        spdlog::warn("libcurl resolves names synchronously: tracker host names block the loop");
    }
    std::unique_ptr<http_fetcher> f(new http_fetcher(reactor));
    f->multi_ = curl_multi_init();
    if (f->multi_ == nullptr) return fail(swarm_errc::tracker_failed, "curl_multi_init failed");
    curl_multi_setopt(f->multi_, CURLMOPT_SOCKETFUNCTION, &http_fetcher::on_socket);
    curl_multi_setopt(f->multi_, CURLMOPT_SOCKETDATA, f.get());
    curl_multi_setopt(f->multi_, CURLMOPT_TIMERFUNCTION, &http_fetcher::on_timer);
    curl_multi_setopt(f->multi_, CURLMOPT_TIMERDATA, f.get());
    curl_multi_setopt(f->multi_, CURLMOPT_MAXCONNECTS, max_cached_connections);
    return f;
}

result<std::shared_ptr<http_fetcher>> http_fetcher::shared(io::reactor& reactor) {
    io::reactor& loop = reactor.loop();
    // A loop's entry expires before it dies (its holders die first), so a reactor made later
    // at the same address never finds a stale fetcher.
    std::erase_if(loop_fetchers, [](const auto& e) { return e.second.expired(); });
    for (const auto& [at, weak] : loop_fetchers) {
        if (at != &loop) continue;
        if (auto f = weak.lock()) return f;
    }
    auto made = create(loop);
    if (!made) return std::unexpected(made.error());
    std::shared_ptr<http_fetcher> f = std::move(*made);
    loop_fetchers.emplace_back(&loop, f);
    return f;
}

http_fetcher::~http_fetcher() {
    for (auto& [id, r] : requests_) {
        curl_multi_remove_handle(multi_, r->easy);
        curl_easy_cleanup(r->easy);  // closes its sockets through close_socket
    }
    requests_.clear();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    for (const auto& [fd, w] : watches_) reactor_.unwatch_fd(w);
    watches_.clear();
    if (timer_armed_) scope_.cancel_timer(timer_);
}

http_fetcher::request_id http_fetcher::get(const std::string& url, const http_get_options& options,
                                           io::scope::handle reply, done_fn done) {
    auto r = std::make_unique<request>();
    r->id = next_id_++;
    r->options = options;
    r->done = std::move(done);
    r->reply = std::move(reply);
    r->easy = curl_easy_init();
    const request_id id = r->id;
    if (r->easy == nullptr) {
        r->reply.post([fn = std::move(r->done)] {
            fn(fail(swarm_errc::tracker_failed, "curl_easy_init failed"));
        });
        return id;
    }
    CURL* e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, r.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "MiniBit/0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate if the tracker offers
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &http_fetcher::open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &http_fetcher::close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    if (const std::string ca = ca_file_of(options); !ca.empty()) {
        curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());  // libcurl copies the string
    }
    requests_.emplace(id, std::move(r));
    // Adding may call on_timer (timeout 0); that only arms a reactor timer, which kicks off the
    // transfer on a later turn: no libcurl call from inside libcurl.
    if (const CURLMcode rc = curl_multi_add_handle(multi_, e); rc != CURLM_OK) {
        auto it = requests_.find(id);
        auto fn = std::move(it->second->done);
        const io::scope::handle to = std::move(it->second->reply);
        curl_easy_cleanup(e);
        requests_.erase(it);
        to.post([fn = std::move(fn), rc] {
            fn(fail(swarm_errc::tracker_failed, curl_multi_strerror(rc)));
        });
    }
    return id;
}

void http_fetcher::cancel(request_id id) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    curl_multi_remove_handle(multi_, it->second->easy);
    curl_easy_cleanup(it->second->easy);
    requests_.erase(it);
}

int http_fetcher::on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* self,
                            void* /*socketp*/) {
    auto* f = static_cast<http_fetcher*>(self);
    if (what == CURL_POLL_REMOVE) {
        f->forget_watch(fd);
        return 0;
    }
    io::fd_interest want = io::fd_interest::none;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) want = want | io::fd_interest::read;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) want = want | io::fd_interest::write;
    if (auto it = f->watches_.find(fd); it != f->watches_.end()) {
        if (auto r = f->reactor_.set_interest(it->second, want); !r) {
            spdlog::debug("http: set_interest fd {}: {}", fd, r.error().message());
        }
        return 0;
    }
    auto w = f->reactor_.watch_fd(fd, want, f->scope_.guard([f, fd](io::fd_interest ready) {
        int events = 0;
        if (has(ready, io::fd_interest::read)) events |= CURL_CSELECT_IN;
        if (has(ready, io::fd_interest::write)) events |= CURL_CSELECT_OUT;
        f->act(fd, events);
    }));
    if (!w) {
        spdlog::warn("http: cannot watch fd {}: {}", fd, w.error().message());
        return -1;  // fails the transfers of this multi handle; each reports its error
    }
    f->watches_.emplace(fd, *w);
    return 0;
}

int http_fetcher::on_timer(CURLM* /*multi*/, long timeout_ms, void* self) {
    auto* f = static_cast<http_fetcher*>(self);
    if (f->timer_armed_) {
        f->scope_.cancel_timer(f->timer_);
        f->timer_armed_ = false;
    }
    if (timeout_ms < 0) return 0;
    f->timer_armed_ = true;
    f->timer_ = f->scope_.add_timer(std::chrono::milliseconds(timeout_ms), [f] {
        f->timer_armed_ = false;
        f->act(CURL_SOCKET_TIMEOUT, 0);
    });
    return 0;
}

curl_socket_t http_fetcher::open_socket(void* /*self*/, curlsocktype /*purpose*/,
                                        curl_sockaddr* address) {
    const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

int http_fetcher::close_socket(void* self, curl_socket_t fd) {
    // The watch ends before the descriptor closes, so a reused number is never watched stale.
    static_cast<http_fetcher*>(self)->forget_watch(fd);
    return ::close(fd);
}

void http_fetcher::forget_watch(int fd) {
    if (auto it = watches_.find(fd); it != watches_.end()) {
        reactor_.unwatch_fd(it->second);
        watches_.erase(it);
    }
}

void http_fetcher::act(int fd, int events) {
    int running = 0;
    const CURLMcode rc = curl_multi_socket_action(multi_, fd, events, &running);
    if (rc != CURLM_OK) {
        spdlog::warn("http: curl_multi_socket_action: {}", curl_multi_strerror(rc));
    }
    drain();
}

void http_fetcher::drain() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        const CURLcode code = msg->data.result;
        request* r = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &r);
        MINIBIT_ASSERT(r != nullptr, "http: a finished transfer without its request");
        result<http_answer> out = http_answer{};
        if (code == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            out = http_answer{status, std::move(r->body)};
        } else {
            out = fail(swarm_errc::tracker_failed, describe_failure(easy, code, *r));
        }
        auto fn = std::move(r->done);
        const io::scope::handle to = std::move(r->reply);
        const request_id id = r->id;
        curl_multi_remove_handle(multi_, easy);
        curl_easy_cleanup(easy);
        requests_.erase(id);
        // Posted: the owner may start or cancel requests from its callback, or die.
        to.post([fn = std::move(fn), out = std::move(out)]() mutable { fn(std::move(out)); });
    }
}

}  // namespace minibit::swarm
