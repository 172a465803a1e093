// Peer-side faults (issue 6), end to end with the real minibit-peer program: a seeder SIGKILLed
// mid-piece, a peer that stops answering after unchoke, a disk that fills up, a data file
// truncated under a running seeder, and a `get` SIGKILLed twice and restarted. The test binary
// enters its own network namespace (loopback only; a tbf qdisc on lo paces transfers so
// "midway" lasts seconds) and its own mount namespace (small tmpfs mounts), so nothing leaks to
// the machine. Fake peers run in the test process over real sockets and the real wire protocol.
// Each case runs once per io back end (the programs get --io, the fake peers use the same one).
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "minibit/loadgen/child_process.hpp"
#include "skip_or_fail.hpp"
#include "swarm_fixture.hpp"

namespace minibit::swarm::testing {
namespace {

namespace lg = minibit::loadgen;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// ---- the sandbox: own network and mount namespaces -----------------------------------------

struct sandbox {
    bool net = false;  ///< own network namespace with lo up
    bool mnt = false;  ///< own mount namespace, nothing propagates back
    std::string why;   ///< what failed, when something did
};

sandbox enter_sandbox() {
    sandbox s;
    if (::geteuid() != 0) {
        s.why = "needs root for unshare/mount/tc";
        return s;
    }
    if (::unshare(CLONE_NEWNET) == 0) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (fd >= 0 && ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
            ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
            s.net = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
        }
        if (fd >= 0) ::close(fd);
        if (!s.net) s.why = "cannot bring lo up in the new network namespace";
    } else {
        s.why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    }
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
        s.mnt = true;
    } else {
        s.why += std::string(" unshare(CLONE_NEWNS)/make-private: ") + std::strerror(errno);
    }
    return s;
}

const sandbox& the_sandbox() {
    static const sandbox s = enter_sandbox();
    return s;
}

// Entered at static initialisation: a mount namespace can only be unshared while the process
// has one thread, before any reactor or logger starts.
[[maybe_unused]] const bool sandbox_entered = (the_sandbox(), true);

/// Skips with the reason, except under CI=true, where a missing facility is a failure.
#define MINIBIT_NEED(cond, what)                                                         \
    do {                                                                                 \
        if (!(cond)) MINIBIT_SKIP_OR_FAIL(std::string(what) + ": " + the_sandbox().why); \
    } while (0)

// ---- programs, files, stats -----------------------------------------------------------------

fs::path peer_program() {
    const char* env = std::getenv("MINIBIT_PEER");
    return env != nullptr ? fs::path(env) : fs::path("minibit-peer");
}

fs::path find_tool(const char* name) {
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
        const fs::path p = fs::path(dir) / name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

/// A free TCP port on 127.0.0.1 (bound, read, released; the kernel does not hand it out again
/// at once).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

/// A torrent's data (random bytes), its .torrent file and the parsed metainfo.
struct torrent_files {
    fs::path torrent;
    std::string bytes;
    metainfo info;
};

torrent_files make_files(const fs::path& dir, std::size_t size, std::uint64_t piece_length) {
    torrent_files t;
    t.bytes.resize(size);
    std::mt19937_64 rng(size * 31U + piece_length);
    for (auto& c : t.bytes) c = static_cast<char>(rng());
    const fs::path original = dir / "original" / "data.bin";
    fs::create_directories(original.parent_path());
    std::ofstream(original, std::ios::binary)
        .write(t.bytes.data(), static_cast<std::streamsize>(size));
    create_options o;
    o.trackers = {"http://127.0.0.1:9/announce"};
    o.piece_length = piece_length;
    auto raw = create_torrent(original, o);
    EXPECT_TRUE(raw) << raw.error().message();
    t.torrent = dir / "data.torrent";
    std::ofstream(t.torrent, std::ios::binary)
        .write(raw->data(), static_cast<std::streamsize>(raw->size()));
    auto m = parse_metainfo(*raw);
    EXPECT_TRUE(m) << m.error().message();
    t.info = *m;
    return t;
}

/// A copy of the original data in dir/<name>/data.bin, as a seeder's save path.
fs::path seed_copy(const fs::path& dir, const std::string& name) {
    fs::create_directories(dir / name);
    fs::copy_file(dir / "original" / "data.bin", dir / name / "data.bin");
    return dir / name;
}

/// A number from a --stats-json file, or nullopt while it is missing or being replaced.
std::optional<double> stat_of(const fs::path& json, std::string_view key) {
    const std::string text = read_all(json);
    if (text.empty()) return std::nullopt;
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object()) return std::nullopt;
    const auto v = doc.find(std::string(key));
    return v != doc.end() && v->is_number() ? std::optional(v->get<double>()) : std::nullopt;
}

/// The value N of the first "started, N/M pieces present" line of a peer log, or -1.
long pieces_present_at_start(const fs::path& log) {
    static const std::regex re(R"(started, (\d+)/\d+ pieces present)");
    std::smatch m;
    const std::string text = read_all(log);
    return std::regex_search(text, m, re) ? std::stol(m[1].str()) : -1;
}

/// Rate-limits every packet on lo (this namespace only) for the life of the object.
class lo_rate_limit {
public:
    explicit lo_rate_limit(const fs::path& dir, const std::string& rate) : dir_(dir) {
        tc_ = find_tool("tc");
        if (tc_.empty() || !the_sandbox().net) return;
        // burst above lo's 64 KiB GSO packets, or large packets would never pass.
        ok_ = run({"qdisc", "replace", "dev", "lo", "root", "tbf", "rate", rate, "burst", "256kb",
                   "latency", "200ms"});
    }
    ~lo_rate_limit() {
        if (ok_) (void)run({"qdisc", "del", "dev", "lo", "root"});
    }
    lo_rate_limit(const lo_rate_limit&) = delete;
    lo_rate_limit& operator=(const lo_rate_limit&) = delete;
    [[nodiscard]] bool ok() const { return ok_; }

private:
    bool run(std::vector<std::string> args) const {
        auto st = lg::run_to_end({tc_, std::move(args), dir_ / "tc.out"}, 10s);
        return st && st->success();
    }
    fs::path dir_;
    fs::path tc_;
    bool ok_ = false;
};

/// A tmpfs of a given size on `dir` (in our private mount namespace), unmounted at the end.
class small_disk {
public:
    small_disk(fs::path dir, const std::string& size) : dir_(std::move(dir)) {
        fs::create_directories(dir_);
        ok_ = the_sandbox().mnt &&
              ::mount("minibit-fault", dir_.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    }
    ~small_disk() {
        if (ok_) ::umount2(dir_.c_str(), MNT_DETACH);
    }
    small_disk(const small_disk&) = delete;
    small_disk& operator=(const small_disk&) = delete;
    /// Grows (or shrinks) the filesystem in place; files stay.
    bool resize(const std::string& size) {
        return ::mount("minibit-fault", dir_.c_str(), "tmpfs", MS_REMOUNT,
                       ("size=" + size).c_str()) == 0;
    }
    [[nodiscard]] bool ok() const { return ok_; }
    [[nodiscard]] const fs::path& path() const { return dir_; }

private:
    fs::path dir_;
    bool ok_ = false;
};

// ---- a fake peer in the test process ----------------------------------------------------------

/// Listens on 127.0.0.1 and speaks the peer protocol by hand: handshake (BEP 6), announces
/// `offered`, unchokes at once, serves requests for pieces in `served` (for `partial`, only the
/// blocks of its first half) from the real data, and never answers any other request.
class fake_peer {
public:
    struct plan {
        bitfield offered;
        bitfield served;
        std::optional<piece_index> partial;
    };

    fake_peer(io::reactor& r, const torrent_files& t, plan p)
        : reactor_(r), files_(t), plan_(std::move(p)) {
        std::weak_ptr<int> alive = alive_;
        auto l = reactor_.listen(io::address::loopback_v4(0), io::listen_options{},
                                 [this, alive](io::connection c, const io::address&) {
                                     if (alive.lock()) accept(c);
                                 });
        EXPECT_TRUE(l) << l.error().message();
        listener_ = *l;
        port_ = reactor_.local_address(listener_)->port();
    }
    ~fake_peer() {
        alive_.reset();
        for (auto& [id, link] : links_) {
            if (!link->closed) reactor_.close(link->conn);
        }
        reactor_.close_listener(listener_);
    }
    fake_peer(const fake_peer&) = delete;
    fake_peer& operator=(const fake_peer&) = delete;

    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::size_t requests = 0;             ///< requests received, answered or not
    std::size_t partial_blocks_sent = 0;  ///< blocks of the partial piece sent

private:
    struct peer_link {
        io::conn_id conn{};
        wire::peer_decoder decoder;
        bool closed = false;
    };

    [[nodiscard]] wire::torrent_bounds bounds() const {
        const metainfo& m = files_.info;
        return {m.piece_count(), static_cast<std::uint32_t>(m.piece_length),
                static_cast<std::uint32_t>(m.piece_size(piece_index{m.piece_count() - 1}))};
    }

    void accept(io::connection c) {
        const auto key = next_key_++;
        links_[key] = std::make_unique<peer_link>(
            peer_link{c.id(), wire::peer_decoder(bounds()), false});
        std::weak_ptr<int> alive = alive_;
        io::conn_handlers h{[this, alive, key](std::span<const std::byte> b) {
                                if (alive.lock()) on_data(*links_[key], b);
                            },
                            [this, alive, key](const std::optional<error>&) {
                                if (alive.lock()) links_[key]->closed = true;
                            }};
        EXPECT_TRUE(reactor_.start(c.id(), std::move(h)));
        wire::handshake hs;
        hs.hash = files_.info.hash;
        hs.id.bytes.fill('f');
        std::memcpy(hs.id.bytes.data(), "-FAKE00-", 8);
        hs.id.bytes[19] = static_cast<std::uint8_t>('a' + key % 26);
        hs.set_fast_extension(true);
        send(*links_[key], hs);
    }

    void send(peer_link& l, const wire::peer_message& m, std::span<const char> payload = {}) {
        std::vector<std::byte> out(wire::encoded_size(m));
        auto n = wire::encode(m, {reinterpret_cast<std::uint8_t*>(out.data()), out.size()});
        ASSERT_TRUE(n);
        out.resize(*n);
        const auto* p = reinterpret_cast<const std::byte*>(payload.data());
        out.insert(out.end(), p, p + payload.size());
        (void)reactor_.send(l.conn, std::move(out));
    }

    void on_data(peer_link& l, std::span<const std::byte> b) {
        l.decoder.feed({reinterpret_cast<const std::uint8_t*>(b.data()), b.size()});
        for (int i = 0; i < 100000; ++i) {
            auto m = l.decoder.next();
            if (!m || !*m) return;
            if (std::holds_alternative<wire::handshake>(**m)) {
                if (plan_.offered.all()) {
                    send(l, wire::have_all{});
                } else {
                    send(l, wire::have_bitfield{plan_.offered});
                }
                send(l, wire::unchoke{});
            } else if (const auto* rq = std::get_if<wire::request>(&**m)) {
                on_request(l, rq->block);
            }
        }
    }

    void on_request(peer_link& l, const wire::block_ref& b) {
        ++requests;
        const bool partial = plan_.partial && b.piece == *plan_.partial &&
                             b.begin + b.length <= files_.info.piece_size(b.piece) / 2;
        if (!partial && !plan_.served.test(b.piece)) return;  // stalled: never answered
        if (partial) ++partial_blocks_sent;
        const std::uint64_t at = b.piece.get() * files_.info.piece_length + b.begin;
        wire::piece_block pb{b.piece, b.begin, {}};
        const std::span<const char> data(files_.bytes.data() + at, b.length);
        pb.data = {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()};
        send(l, pb, data);
    }

    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
    io::reactor& reactor_;
    const torrent_files& files_;
    plan plan_;
    io::listener_id listener_{};
    std::uint16_t port_ = 0;
    std::uint64_t next_key_ = 0;
    std::map<std::uint64_t, std::unique_ptr<peer_link>> links_;
};

/// The first `n` pieces set.
bitfield first_pieces(std::uint32_t count, std::uint32_t n) {
    bitfield b(count);
    for (std::uint32_t i = 0; i < n; ++i) (void)b.set(piece_index{i});
    return b;
}

// ---- the fixture ------------------------------------------------------------------------------

class FaultPeer : public ::testing::TestWithParam<io::backend_kind> {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::warn);
        if (GetParam() == io::backend_kind::uring && !io::uring_available()) {
            MINIBIT_SKIP_OR_FAIL("io_uring is not available on this machine");
        }
        auto r = io::make_reactor(GetParam(), {});
        ASSERT_TRUE(r) << r.error().message();
        reactor_ = std::move(*r);
    }
    void TearDown() override {
        for (auto& c : children_) {
            if (c.running()) c.kill_and_reap();
        }
    }

    [[nodiscard]] std::string io_name() const {
        return GetParam() == io::backend_kind::uring ? "uring" : "epoll";
    }

    /// Starts minibit-peer with the loopback flags every case shares; returns its index.
    std::size_t start(const std::string& name, std::vector<std::string> args) {
        args.insert(args.end(),
                    {"--no-tracker", "--listen", "127.0.0.1", "--io", io_name(),
                     "--rechoke-interval", "0.2", "--log", (dir_.path / (name + ".log")).string(),
                     "--stats-json", (dir_.path / (name + ".json")).string()});
        auto c = lg::child_process::spawn(
            {peer_program(), std::move(args), dir_.path / (name + ".out")});
        EXPECT_TRUE(c) << c.error().message();
        children_.push_back(std::move(*c));
        return children_.size() - 1;
    }
    std::size_t seed(const std::string& name, const fs::path& save_path, std::uint16_t port,
                     std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"seed", files_.torrent.string(), save_path.string(),
                                         "--port", std::to_string(port)};
        args.insert(args.end(), extra.begin(), extra.end());
        return start(name, std::move(args));
    }
    std::size_t get(const std::string& name, const fs::path& out, std::vector<std::string> extra) {
        std::vector<std::string> args = {
            "get", files_.torrent.string(), "-o", out.string(), "--timeout", "120"};
        args.insert(args.end(), extra.begin(), extra.end());
        return start(name, std::move(args));
    }
    lg::child_process& child(std::size_t i) { return children_[i]; }
    fs::path log(const std::string& name) const { return dir_.path / (name + ".log"); }
    fs::path json(const std::string& name) const { return dir_.path / (name + ".json"); }
    std::string output(const std::string& name) const {
        return read_all(dir_.path / (name + ".out"));
    }

    /// Runs the test reactor (fake peers) and reaps children until done() or the limit.
    template <class Pred>
    bool wait_for(Pred done, std::chrono::milliseconds limit) {
        const auto deadline = steady::now() + limit;
        while (!done() && steady::now() < deadline) {
            (void)reactor_->run_once(10ms);
            for (auto& c : children_) (void)c.poll();
        }
        return done();
    }
    /// Waits until the peer `name` has opened its data and listens (its log says so).
    bool wait_listening(const std::string& name) {
        return wait_for(
            [&] { return read_all(log(name)).find("listening on port") != std::string::npos; },
            30s);
    }
    /// Waits for child i to end; true when it did within the limit.
    bool wait_exit(std::size_t i, std::chrono::milliseconds limit) {
        return wait_for([&] { return !child(i).running(); }, limit);
    }

    temp_dir dir_;
    std::unique_ptr<io::reactor> reactor_;
    std::vector<lg::child_process> children_;
    torrent_files files_;
};

// 1. A seeder SIGKILLed while blocks are in flight from it: its requests go back to the picker
// when the connection drops (no wait for the request timeout) and the other seeder finishes.
TEST_P(FaultPeer, SigkilledSeederMidPieceHandsItsBlocksToTheOtherSeeder) {
    MINIBIT_NEED(the_sandbox().net, "own network namespace");
    lo_rate_limit pace(dir_.path, "16mbit");  // ~2 MB/s for all of lo: 8 MiB take ~4 s
    MINIBIT_NEED(pace.ok(), "tc tbf qdisc on lo");
    files_ = make_files(dir_.path, 8U << 20U, 1U << 20U);  // 8 pieces of 64 blocks
    const auto port_a = free_port();
    const auto port_b = free_port();
    const auto a = seed("seed_a", seed_copy(dir_.path, "a"), port_a);
    const auto b = seed("seed_b", seed_copy(dir_.path, "b"), port_b);
    ASSERT_TRUE(wait_listening("seed_a") && wait_listening("seed_b"));
    const auto l = get("leech", dir_.path / "dl",
                       {"--peer", "127.0.0.1:" + std::to_string(port_a), "--peer",
                        "127.0.0.1:" + std::to_string(port_b), "--request-timeout", "30"});
    // Mid-download with both seeders serving: a quarter in, and two peers connected.
    ASSERT_TRUE(wait_for(
        [&] {
            return stat_of(json("leech"), "payload_bytes_down").value_or(0) >= 2U << 20U &&
                   stat_of(json("leech"), "peers_connected").value_or(0) == 2;
        },
        60s))
        << read_all(log("leech"));
    ASSERT_LT(stat_of(json("leech"), "pieces_have").value_or(99), 8) << "too late to kill";
    const auto killed_at = steady::now();
    child(a).kill_and_reap();
    EXPECT_EQ(child(a).status()->signal, SIGKILL);

    ASSERT_TRUE(wait_exit(l, 90s)) << read_all(log("leech"));
    const double seconds_after_kill =
        std::chrono::duration<double>(steady::now() - killed_at).count();
    EXPECT_TRUE(child(l).status()->success()) << child(l).status()->describe() << output("leech");
    EXPECT_TRUE(same_file(dir_.path / "dl" / "data.bin", dir_.path / "original" / "data.bin"));
    // No stall: nothing waited for the 30 s request timeout, and the log names the hand-back.
    EXPECT_EQ(stat_of(json("leech"), "requests_timed_out"), 0.0);
    EXPECT_LT(seconds_after_kill, 30.0);
    static const std::regex gone(R"(peer 127\.0\.0\.1:(\d+): gone with (\d+) requested blocks)");
    const std::string text = read_all(log("leech"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, gone)) << text;
    EXPECT_EQ(std::stoi(m[1].str()), port_a);
    EXPECT_GT(std::stoi(m[2].str()), 0);
    child(b).terminate(5s);
}

// 2. A peer that handshakes, has everything, unchokes, takes requests and never answers: its
// requests time out (--request-timeout 1), the peer is snubbed and an honest seeder gets them.
TEST_P(FaultPeer, StalledPeerRequestsTimeOutAndMoveToAnHonestSeeder) {
    files_ = make_files(dir_.path, 4U << 20U, 256U << 10U);
    const auto pieces = files_.info.piece_count();
    fake_peer staller(*reactor_, files_, {bitfield(pieces, true), bitfield(pieces), std::nullopt});
    const auto port_l = free_port();
    const auto l = get(
        "leech", dir_.path / "dl",
        {"--port", std::to_string(port_l), "--peer", staller.address(), "--request-timeout", "1"});
    // Only the staller is known: the leecher asks it, and its requests time out.
    ASSERT_TRUE(wait_for(
        [&] {
            return staller.requests > 0 &&
                   stat_of(json("leech"), "requests_timed_out").value_or(0) > 0;
        },
        30s))
        << read_all(log("leech"));
    const double timed_out_before_seeder = stat_of(json("leech"), "requests_timed_out").value_or(0);
    // Now an honest seeder dials the leecher.
    const auto s = seed("seed", seed_copy(dir_.path, "s"), free_port(),
                        {"--peer", "127.0.0.1:" + std::to_string(port_l)});
    ASSERT_TRUE(wait_exit(l, 60s)) << read_all(log("leech"));
    EXPECT_TRUE(child(l).status()->success()) << child(l).status()->describe() << output("leech");
    EXPECT_TRUE(same_file(dir_.path / "dl" / "data.bin", dir_.path / "original" / "data.bin"));
    EXPECT_GE(stat_of(json("leech"), "requests_timed_out").value_or(0), timed_out_before_seeder);
    EXPECT_EQ(stat_of(json("leech"), "hash_failures"), 0.0);
    EXPECT_NE(read_all(log("leech")).find("snubbed"), std::string::npos);
    child(s).terminate(5s);
}

// 3. A disk too small for the download: a clear error, exit 1, no crash, nothing counted.
// Then a disk that fills up during the run (the resume file cannot be written at exit), and a
// restart with room again: every verified piece is found on disk, the rest comes from a seeder.
TEST_P(FaultPeer, DiskFullFailsClearlyAndNeverCountsAPieceThatIsNotOnDisk) {
    MINIBIT_NEED(the_sandbox().mnt, "own mount namespace with a tmpfs");
    files_ = make_files(dir_.path, 8U << 20U, 512U << 10U);  // 16 pieces
    small_disk disk(dir_.path / "small", "4m");
    MINIBIT_NEED(disk.ok(), "mount a 4 MiB tmpfs");

    const auto first = get("full", disk.path(), {"--peer", "127.0.0.1:9"});
    ASSERT_TRUE(wait_exit(first, 30s));
    EXPECT_EQ(child(first).status()->code, 1) << child(first).status()->describe();
    EXPECT_EQ(child(first).status()->signal, 0);
    const std::string said = output("full");
    EXPECT_NE(said.find("not enough space in " + disk.path().string()), std::string::npos) << said;
    EXPECT_FALSE(fs::exists(disk.path() / ".data.bin.minibit-resume"));

    // Room for the data (reserved at start) and nothing else once a filler takes the rest.
    ASSERT_TRUE(disk.resize("9m"));
    fake_peer partial(*reactor_, files_,
                      {first_pieces(16, 5), first_pieces(16, 4), piece_index{4}});
    const auto second = get("fill", disk.path(), {"--peer", partial.address()});
    ASSERT_TRUE(wait_for(
        [&] {
            return stat_of(json("fill"), "pieces_have").value_or(0) == 4 &&
                   partial.partial_blocks_sent == 16;
        },
        30s))
        << read_all(log("fill"));
    {
        std::ofstream filler(disk.path() / "filler", std::ios::binary);
        const std::string chunk(64 * 1024, 'x');
        for (int i = 0; i < 64 && filler.write(chunk.data(), chunk.size()); ++i) {}
    }
    child(second).send(SIGTERM);
    ASSERT_TRUE(wait_exit(second, 20s));
    EXPECT_EQ(child(second).status()->code, 1) << child(second).status()->describe();
    const std::string second_log = read_all(log("fill"));
    EXPECT_NE(second_log.find("cannot save resume data"), std::string::npos) << second_log;
    EXPECT_NE(second_log.find("No space left on device"), std::string::npos) << second_log;

    fs::remove(disk.path() / "filler");
    const auto port_s = free_port();
    const auto s = seed("seed", seed_copy(dir_.path, "s"), port_s);
    ASSERT_TRUE(wait_listening("seed"));
    const auto third = get("again", disk.path(), {"--peer", "127.0.0.1:" + std::to_string(port_s)});
    ASSERT_TRUE(wait_exit(third, 60s)) << read_all(log("again"));
    EXPECT_TRUE(child(third).status()->success())
        << child(third).status()->describe() << output("again");
    EXPECT_EQ(pieces_present_at_start(log("again")), 4);  // piece 4 was half written: not kept
    EXPECT_EQ(stat_of(json("again"), "pieces_verified"), 12.0);
    EXPECT_EQ(stat_of(json("again"), "hash_failures"), 0.0);
    EXPECT_TRUE(same_file(disk.path() / "data.bin", dir_.path / "original" / "data.bin"));
    child(s).terminate(5s);
}

// 4. The data file of a running seeder is truncated while it serves: no SIGBUS, the seeder
// drops the pieces that are gone (and says so), keeps serving the rest, and a leecher that also
// knows an honest seeder completes with the right bytes.
TEST_P(FaultPeer, TruncatedFileUnderARunningSeederIsDroppedNotServed) {
    MINIBIT_NEED(the_sandbox().net, "own network namespace");
    lo_rate_limit pace(dir_.path, "16mbit");
    MINIBIT_NEED(pace.ok(), "tc tbf qdisc on lo");
    files_ = make_files(dir_.path, 8U << 20U, 512U << 10U);  // 16 pieces
    const auto port_victim = free_port();
    const auto port_honest = free_port();
    const fs::path victim_dir = seed_copy(dir_.path, "victim");
    const auto victim = seed("victim", victim_dir, port_victim);
    const auto honest = seed("honest", seed_copy(dir_.path, "honest"), port_honest);
    ASSERT_TRUE(wait_listening("victim") && wait_listening("honest"));
    const auto l = get("leech", dir_.path / "dl",
                       {"--peer", "127.0.0.1:" + std::to_string(port_victim), "--peer",
                        "127.0.0.1:" + std::to_string(port_honest)});
    ASSERT_TRUE(wait_for(
        [&] {
            return stat_of(json("leech"), "payload_bytes_down").value_or(0) >= 1U << 20U &&
                   stat_of(json("leech"), "peers_connected").value_or(0) == 2;
        },
        60s))
        << read_all(log("leech"));
    // Cut the file 5000 bytes into piece 6: pieces 6..15 are gone, 0..5 still whole.
    constexpr std::uintmax_t cut = (6U * 512U << 10U) + 5000U;
    fs::resize_file(victim_dir / "data.bin", cut);

    ASSERT_TRUE(wait_exit(l, 90s)) << read_all(log("leech"));
    EXPECT_TRUE(child(l).status()->success()) << child(l).status()->describe() << output("leech");
    EXPECT_TRUE(same_file(dir_.path / "dl" / "data.bin", dir_.path / "original" / "data.bin"));

    // The seeder is alive (no SIGBUS), stops cleanly, and said what happened.
    ASSERT_TRUE(child(victim).running()) << child(victim).status()->describe();
    child(victim).send(SIGTERM);
    ASSERT_TRUE(wait_exit(victim, 10s));
    EXPECT_TRUE(child(victim).status()->success()) << child(victim).status()->describe();
    const std::string said = read_all(log("victim"));
    EXPECT_NE(said.find("was truncated to " + std::to_string(cut) + " bytes"), std::string::npos)
        << said;
    EXPECT_NE(said.find("10 pieces (first 6, last 15) are no longer on disk"), std::string::npos)
        << said;
    EXPECT_EQ(stat_of(json("victim"), "pieces_have"), 6.0);
    EXPECT_EQ(stat_of(json("victim"), "protocol_violations"), 0.0);
    child(honest).terminate(5s);
}

// 5. `get` SIGKILLed twice at different points (each time with a piece half written) and
// restarted: every verified piece is found again, the half pieces are not, and the file ends
// up identical to the original.
TEST_P(FaultPeer, SigkilledGetResumesWithEveryVerifiedPieceTwice) {
    files_ = make_files(dir_.path, 8U << 20U, 512U << 10U);  // 16 pieces of 32 blocks
    const fs::path out = dir_.path / "dl";
    // Each run: a fake peer that serves pieces [0, n) and half of piece n, then the kill.
    for (const std::uint32_t n : {4U, 9U}) {
        const std::string name = "run" + std::to_string(n);
        fake_peer partial(*reactor_, files_,
                          {first_pieces(16, n + 1), first_pieces(16, n), piece_index{n}});
        const auto run = get(name, out, {"--peer", partial.address()});
        ASSERT_TRUE(wait_for(
            [&] {
                return stat_of(json(name), "pieces_have").value_or(0) == n &&
                       partial.partial_blocks_sent == 16;
            },
            30s))
            << read_all(log(name));
        child(run).kill_and_reap();
        EXPECT_EQ(child(run).status()->signal, SIGKILL);
        EXPECT_EQ(pieces_present_at_start(log(name)), n == 4 ? 0 : 4);
    }
    const auto port_s = free_port();
    const auto s = seed("seed", seed_copy(dir_.path, "s"), port_s);
    ASSERT_TRUE(wait_listening("seed"));
    const auto last = get("last", out, {"--peer", "127.0.0.1:" + std::to_string(port_s)});
    ASSERT_TRUE(wait_exit(last, 60s)) << read_all(log("last"));
    EXPECT_TRUE(child(last).status()->success())
        << child(last).status()->describe() << output("last");
    EXPECT_EQ(pieces_present_at_start(log("last")), 9);
    EXPECT_EQ(stat_of(json("last"), "pieces_verified"), 7.0);
    EXPECT_EQ(stat_of(json("last"), "hash_failures"), 0.0);
    EXPECT_TRUE(same_file(out / "data.bin", dir_.path / "original" / "data.bin"));
    child(s).terminate(5s);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, FaultPeer,
                         ::testing::Values(io::backend_kind::uring, io::backend_kind::epoll),
                         backend_name);

}  // namespace minibit::swarm::testing
