// minibit-tracker's topology-aware peer lists over real sockets: peers announce over HTTP from
// different 127.x.y.z source addresses (the tracker sees each connection's source), and answers
// split by the zones of a --zones file or, without one, by /24; SIGHUP reloads the file and a
// bad file keeps the old zones; a bad file at start is an error naming its line.
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "minibit/wire/tracker_http.hpp"
#include "skip_or_fail.hpp"

namespace minibit::faults {
namespace {

const std::string hash_q = "%11%22%33%44%55%66%77%88%99%aa%bb%cc%dd%ee%ff%00%01%02%03%05";

/// One HTTP GET to 127.0.0.1:port from source address `from` (bound before the connect).
std::string http_get_from(const std::string& from, std::uint16_t port, const std::string& target) {
    fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{3, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const sockaddr_in src = loopback(0, from.c_str());
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) return {};
    const sockaddr_in to = loopback(port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) return {};
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (test_io::send_retry(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(req.size())) {
        return {};
    }
    std::string out;
    std::array<char, 4096> buf{};
    while (true) {
        const ssize_t n = test_io::recv_retry(fd.get(), buf.data(), buf.size(), 0);
        if (n <= 0) break;
        out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
}

/// The peers (as "a.b.c.d") of one announce from `from`, or nullopt when it failed.
std::optional<std::vector<std::string>> announce(const std::string& from, std::uint16_t port,
                                                 int numwant, bool compact = true) {
    const std::string r = http_get_from(from, port,
                                        "/announce?info_hash=" + hash_q +
                                            "&peer_id=-MB0001-zonetest0000&port=6881&uploaded=0"
                                            "&downloaded=0&left=100&compact=" +
                                            (compact ? "1" : "0") +
                                            "&numwant=" + std::to_string(numwant));
    const auto body = r.find("\r\n\r\n");
    if (body == std::string::npos) return std::nullopt;
    const auto a = wire::parse_announce_response(r.substr(body + 4), {});
    if (!a) return std::nullopt;
    std::vector<std::string> peers;
    for (std::size_t i = 0; i + 6 <= a->peers4.size(); i += 6) {
        peers.push_back(std::to_string(a->peers4[i]) + "." + std::to_string(a->peers4[i + 1]) +
                        "." + std::to_string(a->peers4[i + 2]) + "." +
                        std::to_string(a->peers4[i + 3]));
    }
    return peers;
}

/// Announces 12 peers from each of the given /24s (e.g. "127.1.0." -> 127.1.0.1..12).
void join(std::uint16_t port, const std::vector<std::string>& nets) {
    for (const auto& net : nets) {
        for (int i = 1; i <= 12; ++i) {
            ASSERT_TRUE(announce(net + std::to_string(i), port, 0)) << net << i;
        }
    }
}

/// Over `rounds` answers of 8 to `from`: how many peers start with `prefix`; each answer must
/// hold 8 peers, never `from` itself.
int count_from(const std::string& from, std::uint16_t port, const std::string& prefix, int rounds,
               bool compact = true) {
    int n = 0;
    for (int r = 0; r < rounds; ++r) {
        const auto peers = announce(from, port, 8, compact);
        EXPECT_TRUE(peers);
        if (!peers) return -1;
        EXPECT_EQ(peers->size(), 8U);
        for (const auto& p : *peers) {
            EXPECT_NE(p, from);
            n += p.starts_with(prefix) ? 1 : 0;
        }
    }
    return n;
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::trunc);
    f << text;
}

class TrackerZones : public ::testing::Test {
protected:
    void SetUp() override {
        if (program("MINIBIT_TRACKER").empty()) MINIBIT_SKIP_OR_FAIL("MINIBIT_TRACKER not set");
        port_ = free_port();
        ASSERT_NE(port_, 0);
    }
    std::unique_ptr<tracker_process> start(std::vector<std::string> flags) {
        flags.insert(flags.end(), {"--threads", "1", "--udp", "off"});
        auto t = std::make_unique<tracker_process>(port_, log(), flags);
        if (!t->ready()) {
            ADD_FAILURE() << "tracker did not start: " << log_text();
            return nullptr;
        }
        return t;
    }
    [[nodiscard]] fs::path log() const { return dir_.path / "tracker.log"; }
    [[nodiscard]] std::string log_text() const {
        std::ifstream in(log());
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    temp_dir dir_;
    std::uint16_t port_ = 0;
};

TEST_F(TrackerZones, AnswersTakeThreeQuartersFromTheAskersZone) {
    const fs::path zones = dir_.path / "zones.txt";
    write_file(zones, "# two racks\n127.1.0.0/16 rack-a\n127.2.0.0/16 rack-b\n");
    auto t = start({"--zones", zones.string()});
    ASSERT_TRUE(t);
    join(port_, {"127.1.0.", "127.2.0."});
    // 8 peers per answer: round(0.75 x 8) = 6 of the asker's rack, 2 of the other, in the
    // compact and the dictionary forms.
    EXPECT_EQ(count_from("127.1.0.1", port_, "127.1.", 20), 20 * 6);
    EXPECT_EQ(count_from("127.2.0.5", port_, "127.2.", 20, false), 20 * 6);
}

TEST_F(TrackerZones, WithoutAFilePeersOfOneSlash24ShareAZone) {
    auto t = start({"--zone-local-fraction", "0.5"});
    ASSERT_TRUE(t);
    join(port_, {"127.0.1.", "127.0.2.", "127.0.3."});
    EXPECT_EQ(count_from("127.0.2.3", port_, "127.0.2.", 20), 20 * 4);
}

TEST_F(TrackerZones, FractionZeroAnswersWithoutZones) {
    auto t = start({"--zone-local-fraction", "0"});
    ASSERT_TRUE(t);
    join(port_, {"127.0.1.", "127.0.2."});
    // Uniform: 8 x 11/23 of each answer on average from the asker's /24 (76 in 20 answers);
    // the zone split would give exactly 120.
    const int local = count_from("127.0.1.1", port_, "127.0.1.", 20);
    EXPECT_GT(local, 30);
    EXPECT_LT(local, 115);
}

TEST_F(TrackerZones, SighupReloadsTheZonesAndABadFileKeepsTheOldOnes) {
    const fs::path zones = dir_.path / "zones.txt";
    write_file(zones, "127.1.0.0/16 rack-a\n127.2.0.0/16 rack-b\n");
    auto t = start({"--zones", zones.string()});
    ASSERT_TRUE(t);
    join(port_, {"127.1.0.", "127.2.0."});
    ASSERT_EQ(count_from("127.1.0.1", port_, "127.1.", 5), 5 * 6);
    // Move the asker into rack-b: its answers then come 6 to 2 from 127.2.
    write_file(zones, "127.1.0.0/16 rack-a\n127.2.0.0/16 rack-b\n127.1.0.1/32 rack-b\n");
    t->proc->signal(SIGHUP);
    EXPECT_TRUE(
        wait_until([&] { return count_from("127.1.0.1", port_, "127.2.", 1) == 6; }, 5s, 50ms));
    EXPECT_EQ(count_from("127.1.0.1", port_, "127.2.", 10), 10 * 6);
    // A bad file: the error names the line, and the last good zones stay in use.
    write_file(zones, "127.1.0.0/16 rack-a\n127.2.0.0/40 rack-b\n");
    t->proc->signal(SIGHUP);
    EXPECT_TRUE(wait_until(
        [&] { return log_text().find("keeping the old zones") != std::string::npos; }, 5s, 50ms))
        << log_text();
    EXPECT_NE(log_text().find("line 2: prefix length must be 0..32"), std::string::npos)
        << log_text();
    EXPECT_TRUE(t->proc->running());
    EXPECT_EQ(count_from("127.1.0.1", port_, "127.2.", 10), 10 * 6);
}

TEST_F(TrackerZones, ABadZonesFileStopsTheStartNamingTheLine) {
    const fs::path zones = dir_.path / "zones.txt";
    write_file(zones, "# racks\n127.1.0.0/16 rack-a\n127.2.0.0 rack-b\n");
    child c({program("MINIBIT_TRACKER"), "--http", "127.0.0.1:" + std::to_string(port_), "--udp",
             "off", "--zones", zones.string()},
            log());
    EXPECT_EQ(c.wait_for(10s), 1);
    EXPECT_NE(log_text().find(zones.string() + ": line 3: prefix has no /LENGTH"),
              std::string::npos)
        << log_text();
    child missing({program("MINIBIT_TRACKER"), "--http", "127.0.0.1:" + std::to_string(port_),
                   "--udp", "off", "--zones", (dir_.path / "none.txt").string()},
                  log());
    EXPECT_EQ(missing.wait_for(10s), 1);
    child bad_fraction({program("MINIBIT_TRACKER"), "--http", "127.0.0.1:" + std::to_string(port_),
                        "--zone-local-fraction", "1.5"},
                       log());
    EXPECT_EQ(bad_fraction.wait_for(10s), 2);
}

}  // namespace
}  // namespace minibit::faults
