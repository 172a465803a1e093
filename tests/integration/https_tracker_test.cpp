// https:// trackers (issue 11): stunnel4 terminates TLS in front of a real minibit-tracker, with a
// self-signed certificate made here by the openssl command; real minibit-peer processes seed and
// get through it, trusting the certificate through SSL_CERT_FILE. Without that trust the peer
// names the tracker and the TLS failure within 5 s. Skips without stunnel4 or openssl, fails
// under CI=true.
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "fault_fixture.hpp"
#include "skip_or_fail.hpp"

namespace minibit::faults {
namespace {

std::string find_program(std::initializer_list<const char*> paths) {
    for (const char* p : paths) {
        if (::access(p, X_OK) == 0) return p;
    }
    return {};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Sets an environment variable for the children started during the object's life.
struct scoped_env {
    scoped_env(const char* name, const std::string& value) : name_(name) {
        ::setenv(name, value.c_str(), 1);
    }
    ~scoped_env() { ::unsetenv(name_); }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;
    const char* name_;
};

class HttpsTracker : public ::testing::Test {
protected:
    void SetUp() override {
        peer_ = program("MINIBIT_PEER");
        tracker_ = program("MINIBIT_TRACKER");
        ASSERT_FALSE(peer_.empty() || tracker_.empty()) << "MINIBIT_PEER/MINIBIT_TRACKER not set";
        stunnel_ = find_program({"/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4"});
        openssl_ = find_program({"/usr/bin/openssl"});
        if (stunnel_.empty() || openssl_.empty()) {
            MINIBIT_SKIP_OR_FAIL("stunnel4 or openssl not installed");
        }
        ::unsetenv("SSL_CERT_FILE");
        ::unsetenv("CURL_CA_BUNDLE");
        // A self-signed certificate for 127.0.0.1, valid one day.
        ASSERT_TRUE(
            run_output({openssl_, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        (dir_.path / "key.pem").string(), "-out", cert(), "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                       dir_.path / "openssl.log"))
            << read_file(dir_.path / "openssl.log");
        http_port_ = free_port();
        tls_port_ = free_port();
        std::ofstream(dir_.path / "stunnel.conf")
            << "foreground = yes\npid =\n[tracker]\n"
            << fmt::format("accept = 127.0.0.1:{}\nconnect = 127.0.0.1:{}\n", tls_port_, http_port_)
            << "cert = " << cert() << "\nkey = " << (dir_.path / "key.pem").string() << "\n";
        std::ofstream(dir_.path / "data.bin") << std::string(700000, 's');
    }

    [[nodiscard]] std::string cert() const { return (dir_.path / "cert.pem").string(); }
    [[nodiscard]] std::string url() const {
        return fmt::format("https://127.0.0.1:{}/announce", tls_port_);
    }
    /// Starts the tracker and stunnel; true once the TLS port accepts.
    bool start_services() {
        tracker_proc_ = std::make_unique<child>(
            std::vector<std::string>{tracker_, "--http", fmt::format("127.0.0.1:{}", http_port_),
                                     "--udp", "off", "--interval", "2", "--min-interval", "1",
                                     "--log-level", "warn"},
            dir_.path / "tracker.log");
        stunnel_proc_ = std::make_unique<child>(
            std::vector<std::string>{stunnel_, (dir_.path / "stunnel.conf").string()},
            dir_.path / "stunnel.log");
        const auto end = steady::now() + 10s;
        while (steady::now() < end) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a = loopback(tls_port_);
            const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(fd);
            if (ok) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    std::string make_torrent() {
        const auto out = dir_.path / "data.torrent";
        EXPECT_TRUE(run_output({peer_, "create", (dir_.path / "data.bin").string(), "--tracker",
                                url(), "-o", out.string()},
                               dir_.path / "create.log"))
            << read_file(dir_.path / "create.log");
        return out.string();
    }

    temp_dir dir_;
    std::string peer_, tracker_, stunnel_, openssl_;
    std::uint16_t http_port_ = 0;
    std::uint16_t tls_port_ = 0;
    std::unique_ptr<child> tracker_proc_;
    std::unique_ptr<child> stunnel_proc_;
};

TEST_F(HttpsTracker, SeedAndGetMeetThroughATlsTrackerTheyTrust) {
    ASSERT_TRUE(start_services()) << read_file(dir_.path / "stunnel.log");
    const auto torrent = make_torrent();
    const scoped_env trust("SSL_CERT_FILE", cert());
    child seeder({peer_, "seed", torrent, dir_.path.string(), "--for", "30"},
                 dir_.path / "seed.log");
    child getter({peer_, "get", torrent, "-o", (dir_.path / "out").string(), "--timeout", "25"},
                 dir_.path / "get.log");
    ASSERT_EQ(getter.wait_for(40s), 0) << read_file(dir_.path / "get.log") << "\nseed:\n"
                                       << read_file(dir_.path / "seed.log");
    EXPECT_EQ(read_file(dir_.path / "out" / "data.bin"), read_file(dir_.path / "data.bin"));
    EXPECT_EQ(read_file(dir_.path / "get.log").find("failed"), std::string::npos)
        << read_file(dir_.path / "get.log");
}

TEST_F(HttpsTracker, AnUntrustedCertificateIsReportedWithTheTracker) {
    ASSERT_TRUE(start_services()) << read_file(dir_.path / "stunnel.log");
    const auto torrent = make_torrent();
    child getter({peer_, "get", torrent, "-o", (dir_.path / "out").string(), "--timeout", "4"},
                 dir_.path / "get.log");
    ASSERT_EQ(getter.wait_for(20s), 1);
    const std::string log = read_file(dir_.path / "get.log");
    EXPECT_NE(log.find("tracker " + url() + " failed: TLS"), std::string::npos) << log;
    EXPECT_NE(log.find("certificate"), std::string::npos) << log;
}

}  // namespace
}  // namespace minibit::faults
