#include "minibit/loadgen/announce_report.hpp"

#include <bit>

#include <fmt/format.h>

namespace minibit::loadgen {

namespace {

constexpr std::uint64_t linear_limit = 1024;  ///< exact buckets below this many microseconds
constexpr unsigned sub_bits = 9;              ///< 512 buckets per power of two above it
constexpr unsigned max_exponent = 40;         ///< values up to 2^40 us (~12 days)

std::size_t bucket_of(std::uint64_t v) {
    if (v < linear_limit) return static_cast<std::size_t>(v);
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= 10
    const unsigned shift = e - sub_bits;
    const std::uint64_t sub = (v >> shift) - (std::uint64_t{1} << sub_bits);
    return linear_limit + (e - 10) * (std::size_t{1} << sub_bits) + static_cast<std::size_t>(sub);
}

std::uint64_t lower_bound_of(std::size_t b) {
    if (b < linear_limit) return b;
    const std::size_t rel = b - linear_limit;
    const unsigned e = static_cast<unsigned>(rel >> sub_bits) + 10;
    const std::uint64_t sub = rel & ((std::size_t{1} << sub_bits) - 1);
    return ((std::uint64_t{1} << sub_bits) + sub) << (e - sub_bits);
}

}  // namespace

latency_histogram::latency_histogram()
    : buckets_(linear_limit + (max_exponent - 10 + 1) * (std::size_t{1} << sub_bits)) {}

void latency_histogram::add(std::uint64_t micros) {
    const std::uint64_t v = std::min<std::uint64_t>(micros, (std::uint64_t{1} << max_exponent));
    ++buckets_[bucket_of(v)];
    ++count_;
    max_ = std::max(max_, micros);
}

std::uint64_t latency_histogram::quantile(double q) const {
    if (count_ == 0) return 0;
    const double target = q * static_cast<double>(count_);
    auto rank = static_cast<std::uint64_t>(target);
    if (rank >= count_) rank = count_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
        seen += buckets_[b];
        if (seen > rank) return lower_bound_of(b);
    }
    return max_;
}

void announce_report::ok(wire::announce_event event, std::uint64_t micros, std::uint64_t peers) {
    ++answered;
    ++events[static_cast<std::size_t>(event) & 3U];
    peers_received += peers;
    latency.add(micros);
}

void announce_report::error(announce_error_kind kind, std::string_view reason) {
    ++errors[static_cast<std::size_t>(kind)];
    if (kind != announce_error_kind::failure) return;
    std::string key(reason.substr(0, 120));
    if (!failure_reasons.contains(key) && failure_reasons.size() >= max_failure_reasons)
        key = "(other)";
    ++failure_reasons[key];
}

std::uint64_t announce_report::error_total() const {
    std::uint64_t n = 0;
    for (const auto e : errors) n += e;
    return n;
}

double announce_report::rate() const {
    return seconds > 0 ? static_cast<double>(answered) / seconds : 0.0;
}

std::string format_text(const announce_report& r) {
    std::string out = fmt::format(
        "{} announces in {:.3f} s ({:.0f}/s) to {} ({} torrents, {} peers, concurrency {}), "
        "ended by {}\n",
        r.answered, r.seconds, r.rate(), r.options.url, r.options.torrents, r.options.peers,
        r.options.concurrency, r.ended_by);
    out += fmt::format("latency us: p50 {} p99 {} p999 {} max {}\n", r.latency.quantile(0.5),
                       r.latency.quantile(0.99), r.latency.quantile(0.999), r.latency.max());
    out += fmt::format("events: started {} none {} completed {} stopped {}; peers received {}\n",
                       r.events[2], r.events[0], r.events[1], r.events[3], r.peers_received);
    out += fmt::format("errors: {} (timeouts {}, failures {}, bad responses {}, connection {})\n",
                       r.error_total(), r.errors[0], r.errors[1], r.errors[2], r.errors[3]);
    for (const auto& [reason, n] : r.failure_reasons)
        out += fmt::format("  failure '{}': {}\n", reason, n);
    return out;
}

}  // namespace minibit::loadgen
