"""The testbed's network: namespaces, links, shaping, the delay line and the processes of one run.

Layout (docs/testbed.md has the picture): a core namespace `mbt-<pid>-sw` routes IPv4 and holds
198.19.0.1, where the tracker listens. Each host is a namespace with one veth (eth0, a /32 and a
default route) whose other end, v<k>, is in a router: the core, or with zones its zone's router
`mbt-<pid>-z<Z>` (gateway 198.19.<Z+1>.1), which reaches the core over one veth pair (the zone's
link zl <-> z<Z>, shaped by tbf both ways). Host k of zone z has 198.19.(z+1).(10+i), i its place in the
zone, so every zone is its own /24. Each host's uplink is tbf on its eth0; delay and loss are
applied to every IPv4 packet where it enters its router from a host, by the delay line
(tools/testbed/delayline/) through NFQUEUE.

Nothing is created in the root namespace; every name carries mbt-<pid>-, so parallel runs never
meet, and close() (or `run --cleanup` after a SIGKILL) removes everything.
"""
import concurrent.futures
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

PREFIX = "mbt-"
SWITCH_ADDR = "198.19.0.1"    # every address is in 198.19.0.0/16 (RFC 2544 benchmarking range)
FIRST_HOST = 10            # the i-th host of a zone gets .10 + i
SETUP_WORKERS = 8          # hosts configured at once (their `ip`/`tc` execs overlap)


class unavailable(Exception):
    """Network namespaces (or a tool the testbed needs) cannot be used on this machine."""


# ---------------------------------------------------------------- commands and namespaces

def sh(*cmd, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.returncode}")
    return r


def in_netns(name: str, fn):
    """Runs fn() on a thread that has entered network namespace `name` (setns is per thread)."""
    out = {}

    def body():
        enter_netns(name)
        try:
            out["value"] = fn()
        except Exception as e:   # handed to the caller's thread
            out["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def dev_counters() -> dict:
    """{interface: (rx bytes, tx bytes)} of the calling thread's network namespace."""
    out = {}
    with open("/proc/thread-self/net/dev") as f:
        for line in f:
            name, sep, counters = line.partition(":")
            if sep and "|" not in line:
                fields = counters.split()
                out[name.strip()] = (int(fields[0]), int(fields[8]))
    return out


def write_sysctl(key: str, value: str) -> None:
    """Sets a per-namespace sysctl of the calling thread's network namespace."""
    with open(f"/proc/sys/{key}", "w") as f:
        f.write(value)


def netns_list() -> list:
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def run_alive(pid: int) -> bool:
    """True when `pid` is a live testbed run (so its namespaces are not leftovers)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"testbed" in f.read()
    except OSError:
        return False


def batch(tool: str, netns, lines: list, force: bool = False) -> None:
    """Runs `lines` (ip or tc commands without the program name) through one `TOOL -batch -`,
    in namespace `netns` (None: ours): one exec instead of one per command, which is most of the
    set-up time of a hundred hosts. Fails on the first failing line unless `force`."""
    if not lines:
        return
    cmd = [tool, *(["-n", netns] if netns else []), *(["-force"] if force else []), "-batch", "-"]
    r = subprocess.run(cmd, input="\n".join(lines) + "\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 and not force:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.returncode}")


def netns_inode(name: str) -> int:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return -1


def delete_netns_all(names: list) -> None:
    """SIGKILLs every process still inside one of these namespaces (one pass over /proc, not
    `ip netns pids` per namespace), then deletes them all with one `ip -batch`."""
    inodes = {netns_inode(n) for n in names} - {-1}
    if not inodes:
        return
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            ino = int(os.readlink(f"/proc/{pid}/ns/net").rpartition("[")[2].rstrip("]"))
        except (OSError, ValueError):
            continue
        if ino in inodes:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    batch("ip", None, [f"netns del {n}" for n in names], force=True)


def cleanup_dead_runs(verbose: bool) -> int:
    """Removes namespaces and work folders named mbt-<pid>- whose run is no longer alive."""
    removed = 0
    pattern = re.compile(re.escape(PREFIX) + r"(\d+)-")
    tmp = tempfile.gettempdir()
    leftovers = [(n, lambda n=n: delete_netns_all([n])) for n in netns_list()]
    leftovers += [(os.path.join(tmp, e), lambda e=e: shutil.rmtree(os.path.join(tmp, e),
                                                                      ignore_errors=True))
                  for e in os.listdir(tmp)]
    for name, remove in leftovers:
        m = pattern.match(os.path.basename(name))
        if m and int(m.group(1)) != os.getpid() and not run_alive(int(m.group(1))):
            remove()
            removed += 1
            if verbose:
                print(f"removed {name}")
    return removed


def iptables() -> str:
    for tool in ("iptables-legacy", "iptables"):
        if shutil.which(tool):
            return tool
    raise unavailable("iptables is not installed (apt-get install iptables)")


def preflight() -> None:
    if os.geteuid() != 0:
        raise unavailable("needs root (network namespaces, tc, iptables)")
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            raise unavailable(f"{tool} is not installed (apt-get install iproute2)")
    probe = f"{PREFIX}{os.getpid()}-probe"
    r = sh("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        raise unavailable(f"ip netns add failed: {r.stderr.strip()}")
    sh("ip", "netns", "del", probe, check=False)


def delayline_exe(build: str) -> str:
    """The delay line program (tools/testbed/delayline.cpp, built with the project)."""
    exe = os.path.join(build, "tools", "testbed", "delayline")
    if not os.access(exe, os.X_OK):
        raise unavailable(f"{exe} is not built (it needs libnetfilter-queue-dev and libmnl-dev; "
                          f"install them, then reconfigure and rebuild)")
    return exe


def tbf_params(rate_bps: int) -> list:
    """tbf for an uplink: burst of 4 ms at the rate (at least 16 KiB, so one GSO-segmented burst
    of full frames passes), a queue of 50 ms at the rate (several BDPs at 20 ms RTT) so TCP's
    probing is not cut short by tail drops, and no peakrate."""
    burst = max(16 * 1024, rate_bps // 8 * 4 // 1000)
    return ["tbf", "rate", f"{rate_bps}bit", "burst", str(burst), "latency", "50ms"]


LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """setns(2) the calling thread into network namespace `name`."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def child_setup(netns):
    """What a child does before exec: die with the run (PR_SET_PDEATHSIG, so even a SIGKILLed
    run leaves no process behind; its namespaces and folder are what `--cleanup` removes), and
    enter its host's network namespace. setns of the network namespace alone, not `ip netns
    exec`: that also makes a mount namespace per process, and with a hundred hosts every new
    /run/netns mount then propagates into every one of them, which made spawning a hundred
    peers take seconds."""
    def setup() -> None:
        parent = os.getppid()
        LIBC.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)
        if netns:
            enter_netns(netns)
    return setup


def wait_until(what: str, pred, seconds: float, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(poll_s)


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def user_system_seconds(pid: int) -> tuple:
    """(user, system) CPU seconds of a process, all threads, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def anon_rss_bytes(pid: int) -> int:
    """Anonymous resident memory of a process now (RssAnon: not the page cache it maps), 0 if it
    is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def schedstat(pid: int) -> tuple:
    """(CPU seconds, seconds runnable but not running) summed over a process's threads."""
    cpu = wait = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                fields = f.read().split()
            cpu += int(fields[0])
            wait += int(fields[1])
    except (OSError, IndexError, ValueError):
        pass
    return cpu / 1e9, wait / 1e9


def busy_jiffies() -> tuple:
    """(idle seconds of all CPUs, monotonic time) now, from /proc/stat's idle and iowait."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return (values[3] + values[4]) / os.sysconf("SC_CLK_TCK"), time.monotonic()


def busy_cores(before: tuple, after: tuple) -> float:
    """Cores the whole machine kept busy between two busy_jiffies() readings (anyone's work).
    From idle time rather than the user/system ticks: with a tickless kernel idle time is
    measured exactly, while a tick-sampled count misses work that runs on a fixed grid (the
    delay line's) between ticks."""
    wall = max(1e-6, after[1] - before[1])
    return round(max(0.0, os.cpu_count() - (after[0] - before[0]) / wall), 2)


def zone_of(k: int, hosts: int, zones: int) -> int:
    """The zone of host k (0 is the seeder): the leechers 1..N in `zones` equal runs, in order;
    the seeder in zone 0."""
    if k == 0 or zones <= 1:
        return 0
    return (k - 1) * zones // hosts


# ---------------------------------------------------------------- the testbed

class testbed:
    """The namespaces, shaping, delay line and processes of one run; close() removes them all."""

    def __init__(self, args):
        self.args = args
        self.tag = f"{PREFIX}{os.getpid()}"
        self.core = f"{self.tag}-sw"
        self.zones = max(1, args.zones)
        self.hosts = [f"{self.tag}-h{k}" for k in range(args.hosts + 1)]   # h0 is the seeder
        self.zone_of = [zone_of(k, args.hosts, self.zones) for k in range(args.hosts + 1)]
        self.addrs = self.assign_addresses()
        # Each zone's router (the core itself when there are no zones) and its address, the
        # gateway of the zone's hosts.
        self.routers = ([self.core] if self.zones == 1 else
                        [f"{self.tag}-z{z}" for z in range(self.zones)])
        self.gateways = ([SWITCH_ADDR] if self.zones == 1 else
                         [f"198.19.{z + 1}.1" for z in range(self.zones)])
        # Delay line threads, one NFQUEUE each (--queue-balance spreads flows over them).
        self.delay_threads = args.delay_threads or (1 if args.hosts <= 16 else os.cpu_count())
        self.made = []        # namespaces created, removed in reverse
        self.procs = []       # (name, Popen)
        self.delayline = None
        self.delayline_stats = None
        self.setup_seconds = None
        self.gate = None      # (read, write) of the pipe gated processes wait on
        self.work = tempfile.mkdtemp(prefix=f"{self.tag}-")
        self.log_dir = args.log_dir or os.path.join(self.work, "logs")
        os.makedirs(self.log_dir, exist_ok=True)

    def assign_addresses(self) -> list:
        seen = [0] * self.zones
        addrs = []
        for k in range(len(self.hosts)):
            z = self.zone_of[k]
            addrs.append(f"198.19.{z + 1}.{FIRST_HOST + seen[z]}")
            seen[z] += 1
        return addrs

    # -- topology
    def build(self) -> None:
        """Namespaces, links, routes and shaping in a few batches: one `ip -batch` makes every
        namespace, one per router adds its veths and routes, then each host's own address,
        route and tbf (two execs per host, several hosts at a time)."""
        t0 = time.monotonic()
        delay = self.args.rtt_ms > 0 or self.args.loss > 0
        ipt = iptables() if delay else None
        exe = delayline_exe(self.args.build) if delay else None
        names = [self.core, *(self.routers if self.zones > 1 else []), *self.hosts]
        self.made.extend(names)   # close() deletes them whether or not the batch got that far
        batch("ip", None, [f"netns add {n}" for n in names])
        self.add_routers()
        with concurrent.futures.ThreadPoolExecutor(max_workers=SETUP_WORKERS) as pool:
            for f in [pool.submit(self.add_host, k, host) for k, host in enumerate(self.hosts)]:
                f.result()
        if ipt:
            # Every packet a host sends is held for RTT/2 where it enters its router, so each
            # direction of every path gets it once (the tracker's answers are not delayed).
            target = (["--queue-num", "0"] if self.delay_threads == 1 else
                      ["--queue-balance", f"0:{self.delay_threads - 1}"])
            for router in self.routers:
                sh("ip", "netns", "exec", router, ipt, "-t", "mangle", "-A", "PREROUTING",
                   "-i", "v+", "-j", "NFQUEUE", *target)
            self.start_delayline(exe)
        self.setup_seconds = round(time.monotonic() - t0, 2)

    def add_routers(self) -> None:
        """Each router forwards IPv4 and holds its address (a zone's gateway, or the tracker's
        198.19.0.1 in the core) on its loopback; the core reaches each zone router over the zone's
        link `z<Z>` <-> `zl`, shaped to --inter-zone-rate both ways (tbf on each end); and each
        router has a veth `v<k>` to each of its hosts (the host's end, eth0, moved into the host)
        with a /32 route to it."""
        zone_lines = {z: [] for z in range(self.zones)}
        core = ["link set lo up", f"addr add {SWITCH_ADDR}/32 dev lo"]
        rate = " ".join(tbf_params(self.args.inter_zone_rate))
        if self.zones > 1:
            for z, name in enumerate(self.routers):
                gateway = self.gateways[z]
                core += [f"link add z{z} type veth peer name zl netns {name}",
                         f"link set dev z{z} up",
                         f"route add 198.19.{z + 1}.0/24 via {gateway} dev z{z} onlink"]
                zone_lines[z] += ["link set lo up", f"addr add {gateway}/32 dev lo",
                                  "link set dev zl up",
                                  f"route add default via {SWITCH_ADDR} dev zl onlink"]
        for k, host in enumerate(self.hosts):
            z = self.zone_of[k]
            # Both ends are created inside namespaces we own: names cannot collide with anyone's.
            lines = core if self.zones == 1 else zone_lines[z]
            lines += [f"link add v{k} type veth peer name eth0 netns {host}",
                      f"link set dev v{k} up", f"route add {self.addrs[k]}/32 dev v{k}"]
        batch("ip", self.core, core)
        in_netns(self.core, lambda: write_sysctl("net/ipv4/ip_forward", "1"))
        if self.zones > 1:
            batch("tc", self.core, [f"qdisc add dev z{z} root {rate}" for z in range(self.zones)])
            for z, name in enumerate(self.routers):
                batch("ip", name, zone_lines[z])
                in_netns(name, lambda: write_sysctl("net/ipv4/ip_forward", "1"))
                batch("tc", name, [f"qdisc add dev zl root {rate}"])

    def add_host(self, k: int, host: str) -> None:
        """Host k: eth0 with its /32 and a default route to its router, which reaches it over
        v<k>, and its uplink's tbf. Routed rather than bridged: a host then resolves one neighbour
        (its gateway), not every peer; the kernel's neighbour table is shared by all namespaces
        and overflows (gc_thresh3, 1024 by default, settable only in the root namespace) at about
        30 bridged hosts that all talk to each other."""
        z = self.zone_of[k]
        batch("ip", host, ["link set lo up", f"addr add {self.addrs[k]}/32 dev eth0",
                           "link set dev eth0 up",
                           f"route add default via {self.gateways[z]} dev eth0 onlink"])
        rate = self.args.seed_uplink if k == 0 else self.args.uplink
        sh("tc", "-n", host, "qdisc", "add", "dev", "eth0", "root", *tbf_params(rate))

    def queue_maxlen(self) -> int:
        """Packets one queue may hold: every uplink of the testbed sending through it for the
        one-way delay, in full-size frames, twice over (ACKs, bursts), at least 1024. The delay
        line reports the kernel's drops for a full queue; 0 means this was enough."""
        total_bps = self.args.seed_uplink + self.args.hosts * self.args.uplink
        frames = total_bps / 8 * (self.args.rtt_ms / 2000) / 1514
        return max(1024, int(2 * frames) + 64)

    def start_delayline(self, exe: str) -> None:
        ready = os.path.join(self.work, "delayline.ready")
        self.delayline_stats = os.path.join(self.log_dir, "delayline.stats.json")
        p = self.spawn("delayline", None, [
            exe, "--delay-ms", str(self.args.rtt_ms / 2), "--loss-pct", str(self.args.loss),
            "--seed", str(self.args.seed), "--queue-maxlen", str(self.queue_maxlen()),
            "--queues", str(self.delay_threads), "--ready-file", ready,
            "--stats-file", self.delayline_stats, *self.routers])
        self.delayline = p
        wait_until("the delay line", lambda: os.path.exists(ready) or p.poll() is not None, 15)
        if p.poll() is not None:
            raise RuntimeError(f"delayline exited {p.returncode}: {tail(self.log('delayline'))}")

    # -- counters
    def uplink_bytes(self) -> list:
        """Bytes each host has sent (frames its router's v<k> received, as tbf counts them)."""
        counters = {name: in_netns(name, dev_counters) for name in self.routers}
        return [counters[self.routers[self.zone_of[k]]].get(f"v{k}", (0, 0))[0]
                for k in range(len(self.hosts))]

    def zone_in_bytes(self) -> list:
        """Bytes that entered each zone over its link from the core (frames, all traffic)."""
        if self.zones == 1:
            return []
        return [in_netns(name, dev_counters).get("zl", (0, 0))[0] for name in self.routers]

    def delayline_usage(self) -> dict:
        """The delay line's CPU so far (call before stopping it)."""
        if not self.delayline:
            return {}
        cpu, wait = schedstat(self.delayline.pid)
        user, system = user_system_seconds(self.delayline.pid)
        return {"delayline_cpu_seconds": round(cpu, 2),
                "delayline_runqueue_wait_seconds": round(wait, 3),
                "delayline_user_seconds": round(user, 2),
                "delayline_system_seconds": round(system, 2)}

    def delayline_counts(self) -> dict:
        """After the delay line stopped: packets it handled, lost on purpose, and dropped by the
        kernel because a queue was full or its socket overflowed (the emulation's own loss)."""
        try:
            with open(self.delayline_stats) as f:
                d = json.load(f)
        except (OSError, ValueError, TypeError):
            return {}
        hosts = d.get("queues", [])
        return {"delayline_threads": d.get("threads", 0),
                "delayline_packets": d.get("packets", 0),
                "delayline_wakeups": d.get("wakeups", 0),
                "delayline_late_us_median": d.get("late_us_median"),
                "delayline_late_us_p99": d.get("late_us_p99"),
                "delayline_late_us_max": d.get("late_us_max"),
                "delayline_loss_drops": sum(h.get("lost", 0) for h in hosts),
                "delayline_kernel_drops": sum(h.get("queue_dropped", 0) + h.get("user_dropped", 0)
                                              for h in hosts)}

    # -- processes
    def log(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def spawn(self, name: str, netns, cmd, gated: str = "") -> subprocess.Popen:
        """Starts `cmd` in namespace `netns` (None: ours), output to its log. `gated`: its stdin
        is a pipe that reaches end of file at open_gate(), so that a hundred processes start
        together however long forking them one by one takes: "exec" waits there before exec,
        "stdin" lets the program itself wait on it (after its own start-up)."""
        stdin = subprocess.DEVNULL
        if gated:
            if self.gate is None:
                self.gate = os.pipe()
            stdin = self.gate[0]
            if gated == "exec":
                cmd = ["/bin/sh", "-c", 'read _; exec "$@"', "sh", *cmd]
        with open(self.log(name), "wb") as log:
            # Same process group as the run, so a kill of the group reaches them too.
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=stdin,
                                 preexec_fn=child_setup(netns))
        self.procs.append((name, p))
        return p

    def open_gate(self) -> None:
        """Lets every gated process go at once (they see end of file on the shared pipe)."""
        if self.gate is not None:
            for fd in self.gate:
                os.close(fd)
            self.gate = None

    def stop_procs(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _, p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self) -> None:
        self.open_gate()
        self.stop_procs()
        delete_netns_all(list(reversed(self.made)))
        self.made.clear()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
