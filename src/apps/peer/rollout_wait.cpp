#include "rollout_wait.hpp"

#include <chrono>
#include <optional>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "minibit/core/sha1.hpp"
#include "minibit/wire/tracker_http.hpp"

namespace minibit::apps {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// One blocking GET: status and body, or the transport error.
struct fetched {
    long status = 0;
    std::string body;
    std::string error;  ///< set when no answer came
};

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* out) {
    auto* s = static_cast<std::string*>(out);
    if (s->size() + size * n > (4U << 20U)) return 0;  // a 4 MiB answer is not ours: abort
    s->append(data, size * n);
    return size * n;
}

fetched http_get(const std::string& url, const std::string& token) {
    fetched out;
    CURL* h = curl_easy_init();
    if (h == nullptr) return {0, {}, "libcurl could not start"};
    curl_slist* headers = nullptr;
    if (!token.empty()) {
        headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    }
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
    const CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    } else {
        out.error = curl_easy_strerror(rc);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return out;
}

/// The tracker's base URL and the path of its announce, from either form of --tracker.
struct tracker_urls {
    std::string rollout;  ///< …/v1/torrents/HASH
    std::string scrape;   ///< …/scrape?info_hash=… (BEP 48 convention), empty if none
};

tracker_urls urls_of(std::string url, const std::string& hex) {
    const auto query = url.find('?');
    if (query != std::string::npos) url.resize(query);
    const auto slash = url.rfind('/');
    const auto scheme_end = url.find("://");
    std::string base = url;
    std::string last;
    if (slash != std::string::npos && scheme_end != std::string::npos && slash > scheme_end + 2) {
        base = url.substr(0, slash);
        last = url.substr(slash + 1);
    }
    tracker_urls u;
    u.rollout = base + "/v1/torrents/" + hex;
    if (last.starts_with("announce")) {
        const auto hash = *sha1_digest::from_hex(hex);
        std::string escaped;
        for (const std::uint8_t b : hash.bytes) escaped += fmt::format("%{:02X}", b);
        u.scrape = base + "/scrape" + last.substr(8) + "?info_hash=" + escaped;
    }
    return u;
}

/// Where the count came from at the last poll, and what it said.
struct poll_result {
    std::optional<std::uint64_t> completed;
    json stragglers = json::array();
    bool rollout = false;  ///< from /v1 (stragglers known), not from a scrape
    std::string problem;   ///< why there is no count, if none
};

poll_result poll_once(const tracker_urls& u, const rollout_wait_options& o) {
    poll_result r;
    const fetched f = http_get(u.rollout, o.token);
    if (!f.error.empty()) {
        r.problem = f.error;
        return r;
    }
    const json j = json::parse(f.body, nullptr, false);
    if (f.status == 200 && j.is_object() && j.contains("completed")) {
        r.rollout = true;
        r.completed = j["completed"].get<std::uint64_t>();
        if (j.contains("straggler_list")) r.stragglers = j["straggler_list"];
        return r;
    }
    if (j.is_object() && j.contains("error") && f.status != 401 && f.status != 403) {
        r.rollout = true;  // a MiniBit tracker that has not seen the torrent yet
        r.completed = 0;
        return r;
    }
    if (f.status == 401 || f.status == 403) {
        r.problem = "the tracker wants a token (--token-file)";
        return r;
    }
    if (u.scrape.empty()) {
        r.problem = fmt::format("no rollout view (HTTP {}) and no announce URL to scrape",
                                f.status);
        return r;
    }
    const fetched s = http_get(u.scrape, {});
    if (!s.error.empty() || s.status != 200) {
        r.problem = s.error.empty() ? fmt::format("scrape: HTTP {}", s.status) : s.error;
        return r;
    }
    const auto entries = wire::parse_scrape_response(s.body, {});
    if (!entries) {
        r.problem = "scrape: " + entries.error().message();
        return r;
    }
    r.completed = 0;
    for (const auto& e : *entries)
        r.completed = std::max<std::uint64_t>(*r.completed, e.downloaded);
    return r;
}

void print_stragglers(const poll_result& r) {
    if (!r.rollout) {
        fmt::print(stderr, "(the tracker has no rollout view: no straggler list)\n");
        return;
    }
    fmt::print(stderr, "stragglers: {}\n", r.stragglers.size());
    for (const auto& s : r.stragglers) {
        fmt::print(stderr, "  {} left {} bytes, no progress for {:.1f} s\n", s.value("peer", "?"),
                   s.value("left", std::uint64_t{0}),
                   static_cast<double>(s.value("since_progress_ms", std::int64_t{0})) / 1000.0);
    }
}

}  // namespace

int wait_for_rollout(const rollout_wait_options& o) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const tracker_urls u = urls_of(o.tracker, o.hash);
    const auto deadline = o.timeout > 0
                              ? steady::now() +
                                    std::chrono::milliseconds(std::int64_t(o.timeout * 1000))
                              : steady::time_point::max();
    poll_result last;
    while (true) {
        last = poll_once(u, o);
        if (last.completed && *last.completed >= o.complete) {
            fmt::print("{}: {} of {} hosts completed\n", o.hash, *last.completed, o.complete);
            return 0;
        }
        if (steady::now() >= deadline) break;
        const auto pause = std::chrono::milliseconds(std::int64_t(o.poll_interval * 1000));
        std::this_thread::sleep_for(std::min<steady::duration>(pause, deadline - steady::now()));
    }
    if (last.completed) {
        fmt::print(stderr, "timeout: {} of {} hosts completed {}\n", *last.completed, o.complete,
                   o.hash);
    } else {
        fmt::print(stderr, "timeout: no count from the tracker ({})\n", last.problem);
    }
    print_stragglers(last);
    return 1;
}

}  // namespace minibit::apps
