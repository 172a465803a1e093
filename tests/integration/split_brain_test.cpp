// Issue 11 defect 1, a silent split brain: a second minibit-tracker (or minibit-peer seed
// --threads N) started on the port of a running one used to join it through SO_REUSEPORT and
// take half its traffic. Real processes on 127.0.0.1: the second must exit 1 with one clear
// line, and the first must keep serving.
#include <arpa/inet.h>

#include <fstream>
#include <random>

#include "fault_fixture.hpp"
#include "minibit/core/metainfo.hpp"

namespace minibit::faults {
namespace {

/// The whole log of a child (stdout and stderr).
std::string read_log(const fs::path& log) {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A BEP 15 connect to 127.0.0.1:port; true when a connect response with our transaction id
/// comes back within a second.
bool udp_tracker_answers(std::uint16_t port) {
    fd_guard fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    timeval tv{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::uint64_t magic = 0x41727101980ULL;
    const std::uint32_t tid = 0x5b5b1234U;
    std::array<std::uint8_t, 16> req{};
    for (int i = 0; i < 8; ++i)
        req[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(magic >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i)
        req[static_cast<std::size_t>(12 + i)] = static_cast<std::uint8_t>(tid >> (24 - 8 * i));
    const sockaddr_in to = loopback(port);
    // Several tries: with the port shared, each datagram lands on one of the sockets.
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (::sendto(fd.get(), req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                     sizeof to) != 16) {
            return false;
        }
        std::array<std::uint8_t, 64> resp{};
        const ssize_t n = ::recv(fd.get(), resp.data(), resp.size(), 0);
        if (n == 16 && std::equal(req.begin() + 12, req.end(), resp.begin() + 4)) return true;
    }
    return false;
}

struct second_tracker_case {
    const char* name;
    bool http;  ///< the second tracker takes the HTTP (TCP) port, else the UDP one
};

class TrackerSplitBrain : public ::testing::TestWithParam<second_tracker_case> {};

TEST_P(TrackerSplitBrain, ASecondTrackerOnTheSamePortExitsAndTheFirstKeepsServing) {
    temp_dir dir;
    const std::uint16_t port = free_port();
    ASSERT_NE(port, 0);
    tracker_process first(port, dir.path / "first.log", {"--threads", "2"});
    ASSERT_TRUE(first.ready()) << read_log(dir.path / "first.log");
    const std::string at = "127.0.0.1:" + std::to_string(port);
    const bool http = GetParam().http;
    child second({program("MINIBIT_TRACKER"), "--http", http ? at : "off", "--udp",
                  http ? "off" : at, "--threads", "2", "--log-level", "warn"},
                 dir.path / "second.log");
    const auto status = second.wait_for(10s);
    const std::string log = read_log(dir.path / "second.log");
    EXPECT_EQ(status, 1) << log;
    EXPECT_NE(log.find("address " + at + " is in use by another process"), std::string::npos)
        << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << "one line: " << log;
    ASSERT_TRUE(first.proc->running());
    EXPECT_TRUE(tracker_stat(port, "peers").has_value()) << "the first tracker's HTTP side";
    EXPECT_TRUE(udp_tracker_answers(port)) << "the first tracker's UDP side";
}

INSTANTIATE_TEST_SUITE_P(Ports, TrackerSplitBrain,
                         ::testing::Values(second_tracker_case{"Http", true},
                                           second_tracker_case{"Udp", false}),
                         [](const auto& i) { return std::string(i.param.name); });

/// A BitTorrent handshake to 127.0.0.1:port for `hash`; true when a handshake for the same
/// torrent comes back.
bool peer_answers_handshake(std::uint16_t port, const info_hash& hash) {
    fd_guard fd = tcp_connect(port, 2000ms);
    if (fd.get() < 0) return false;
    std::string hs;
    hs.push_back(19);
    hs += "BitTorrent protocol";
    hs.append(8, '\0');
    hs.append(reinterpret_cast<const char*>(hash.bytes.data()), hash.bytes.size());
    hs += "-XX0001-splitbrain00";
    if (test_io::send_retry(fd.get(), hs.data(), hs.size(), MSG_NOSIGNAL) != 68) return false;
    std::string got;
    char buf[256];
    while (got.size() < 68) {
        const ssize_t n = test_io::recv_retry(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) return false;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got.compare(28, 20, hs, 28, 20) == 0;
}

TEST(PeerSplitBrain, ASecondSeederOnTheSamePortExitsAndTheFirstKeepsServing) {
    temp_dir dir;
    const std::string peer = program("MINIBIT_PEER");
    fs::create_directories(dir.path / "data");
    std::string bytes(256 * 1024, '\0');
    std::mt19937 rng(11);
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::ofstream(dir.path / "data" / "a.bin", std::ios::binary) << bytes;
    const std::string torrent = (dir.path / "a.torrent").string();
    ASSERT_TRUE(run_output({peer, "create", (dir.path / "data" / "a.bin").string(), "--tracker",
                            "http://127.0.0.1:1/announce", "-o", torrent},
                           dir.path / "create.log"))
        << read_log(dir.path / "create.log");
    const auto info = load_metainfo(torrent);
    ASSERT_TRUE(info) << info.error().message();
    const std::uint16_t port = free_port();
    ASSERT_NE(port, 0);
    const std::vector<std::string> args{
        peer,        "seed", torrent,  (dir.path / "data").string(), "--no-tracker",
        "--threads", "2",    "--port", std::to_string(port)};
    child first(args, dir.path / "first.log");
    ASSERT_TRUE(wait_until([&] { return !first.running() || tcp_connect(port, 200ms).get() >= 0; },
                           15s, 50ms));
    ASSERT_TRUE(first.running()) << read_log(dir.path / "first.log");
    child second(args, dir.path / "second.log");
    const auto status = second.wait_for(15s);
    const std::string log = read_log(dir.path / "second.log");
    EXPECT_EQ(status, 1) << log;
    const std::string at = "0.0.0.0:" + std::to_string(port);
    EXPECT_NE(log.find("address " + at + " is in use by another process"), std::string::npos)
        << log;
    ASSERT_TRUE(first.running());
    // Several connections: with the port shared, some would land on the second process.
    for (int i = 0; i < 6; ++i) {
        EXPECT_TRUE(peer_answers_handshake(port, info->hash)) << "connection " << i;
    }
    first.signal(SIGTERM);
    EXPECT_EQ(first.wait_for(10s), 0) << read_log(dir.path / "first.log");
}

}  // namespace
}  // namespace minibit::faults
