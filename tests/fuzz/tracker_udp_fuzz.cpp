// Fuzz target: BEP 15 packets. The input goes to tracker_service::handle_udp twice (as sent, and
// with a valid connection id patched into bytes 0..7 so announces and scrapes reach the swarm
// table), to parse_udp_request and to parse_udp_response for both peer record sizes.
// Properties: accepted packets re-encode to the same bytes (announce: its first 98 bytes).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_service.hpp"
#include "minibit/tracker/service.hpp"

namespace {

using namespace minibit;
using fuzz::check;

constexpr std::chrono::seconds now{100000};
constexpr std::array<std::uint8_t, 4> client_ip{127, 0, 0, 1};

tracker::tracker_service& service() {
    return fuzz::bounded_service(11);
}

void check_request(std::span<const std::uint8_t> packet) {
    const auto r = wire::parse_udp_request(packet);
    if (!r) return;
    std::vector<std::uint8_t> out;
    wire::encode_udp(*r, out);
    const bool announce = std::holds_alternative<wire::udp_announce_request>(*r);
    const auto expect = announce ? packet.first(
                                       std::min(packet.size(), wire::udp_announce_request_bytes))
                                 : packet;
    check(std::ranges::equal(out, expect), "accepted UDP request re-encodes differently");
}

void check_response(std::span<const std::uint8_t> packet, wire::udp_peer_family family) {
    const auto r = wire::parse_udp_response(packet, family);
    if (!r) return;
    std::vector<std::uint8_t> out;
    wire::encode_udp(*r, out);
    check(std::ranges::equal(out, packet), "accepted UDP response re-encodes differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto packet = fuzz::as_bytes(data, size);
    static const auto from = *io::address::parse("127.0.0.1:6881");
    std::vector<std::uint8_t> reply;
    service().handle_udp(packet, from, now, reply);
    if (size >= 16) {
        std::vector<std::uint8_t> patched(packet.begin(), packet.end());
        const std::uint64_t id = tracker::connection_id_issuer({}).issue(client_ip, now);
        for (std::size_t i = 0; i < 8; ++i) {
            patched[i] = static_cast<std::uint8_t>(id >> (56U - 8U * i));
        }
        reply.clear();
        service().handle_udp(patched, from, now, reply);
    }
    check_request(packet);
    check_response(packet, wire::udp_peer_family::ipv4);
    check_response(packet, wire::udp_peer_family::ipv6);
    return 0;
}
