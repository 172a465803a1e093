"""A new user's first hour with MiniBit (issue 11), scripted over the real programs.

Usage: first_hour_test.py MINIBIT_PEER MINIBIT_TRACKER MINIBIT_LOADGEN

Walks what a new user does, asserting each step as the user sees it:
  --help and --version on every program and subcommand; create a torrent (http:// tracker) and
  read it back with info --json; start minibit-tracker, and see a second one on the same port
  refused with one line; seed from data that is really read-only (a tmpfs remounted read-only in
  a private mount namespace when root, else files and folder without write permission) and get it
  over an http://, a udp:// and an https:// tracker (stunnel4 with a certificate made here);
  an unreachable tracker named within 5 s with stderr on a pipe; a seed of a truncated copy
  refused with every byte, the size and the times of the file unchanged and no resume file made;
  get -o /proc/sys refused as not writable; create --tracker notaurl refused, writing nothing.

Everything runs on 127.0.0.1 with ports the kernel picked; every wait is bounded and the whole
script stops itself after 90 s. Skips (exit 77) without stunnel4/openssl, or as root without a
private mount namespace, except under CI=true, where that is a failure.
"""
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
T0 = time.monotonic()


class Failure(Exception):
    pass


def check(cond: bool, what: str, detail: str = "") -> None:
    if not cond:
        raise Failure(what + (f"\n--- detail ---\n{detail}" if detail else ""))


def skip_or_fail(why: str) -> None:
    if os.environ.get("CI") == "true":
        print(f"FAIL: {why}, and CI must run the first-hour test", file=sys.stderr)
        sys.exit(1)
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(SKIP)


def step(name: str) -> None:
    print(f"[{time.monotonic() - T0:5.1f} s] {name}", flush=True)


def run(cmd, timeout=20, **kw) -> subprocess.CompletedProcess:
    """Runs a command to its end (bounded), capturing stdout and stderr as text."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def lines(text: str):
    return [l for l in text.splitlines() if l.strip()]


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (the tracker serves both on one port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise Failure("no free port on 127.0.0.1")


def wait_tcp(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def file_state(path: str):
    """What a user would notice changed: bytes, size, modification and change times."""
    st = os.stat(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns, "mode": st.st_mode}


def tree(path: str):
    """Every file and folder under path (relative), for 'nothing was created' checks."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), path))
    return sorted(out)


class Reader:
    """Collects a child's stream line by line with the time each line arrived."""

    def __init__(self, stream):
        self.lines = []  # (seconds since start, text)
        self.start = time.monotonic()
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for raw in stream:
            with self._cv:
                self.lines.append((time.monotonic() - self.start, raw.rstrip("\n")))
                self._cv.notify_all()

    def wait_for(self, pattern: str, seconds: float):
        """The first (time, line) matching the regex, waiting up to `seconds`; None otherwise."""
        rx = re.compile(pattern)
        end = time.monotonic() + seconds
        with self._cv:
            while True:
                for at, text in self.lines:
                    if rx.search(text):
                        return at, text
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return None
                self._cv.wait(min(left, 0.1))

    def text(self) -> str:
        self._thread.join(timeout=5)
        with self._cv:
            return "\n".join(t for _, t in self.lines)


class TtyRun:
    """A child whose stdout and stderr are a terminal (a pty), as a user at a shell sees it."""

    def __init__(self, cmd, env):
        import pty  # noqa: PLC0415 - only here

        self.master, slave = pty.openpty()
        self.start = time.monotonic()
        self.chunks = []  # (seconds since start, bytes)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                     env=env)
        os.close(slave)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO once the child closed its side
                return
            if not data:
                return
            self.chunks.append((time.monotonic() - self.start, data))

    def finish(self, seconds: float):
        """Waits for the child; its exit status and the lines drawn, with when they arrived.
        A progress line redrawn in place (carriage return, erase to the end) counts each time."""
        try:
            status = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self._thread.join(timeout=5)
        os.close(self.master)
        shown = []
        for at, data in self.chunks:
            text = data.decode(errors="replace").replace("\x1b[K", "")
            shown += [(at, l) for l in re.split(r"[\r\n]+", text) if l.strip()]
        return status, shown


class Procs:
    """The long-running children of the test, stopped by PID at the end."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, log=None, **kw) -> subprocess.Popen:
        """Starts cmd with stdout and stderr on pipes, or both into the file `log`."""
        if log is None:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, **kw)
        else:
            with open(log, "w") as f:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class FirstHour:
    def __init__(self, peer, tracker, loadgen, tmp, procs):
        self.peer, self.tracker, self.loadgen = peer, tracker, loadgen
        self.tmp, self.procs = tmp, procs
        # Nothing of the run may land in the real home: state folder and HOME inside tmp.
        self.env = dict(os.environ, HOME=os.path.join(tmp, "home"),
                        XDG_STATE_HOME=os.path.join(tmp, "xdg-state"))
        self.env.pop("SSL_CERT_FILE", None)
        self.env.pop("CURL_CA_BUNDLE", None)
        os.makedirs(self.env["HOME"])
        self.data_size = 2 * 1024 * 1024 + 12345  # several pieces and a short last one
        self.data = os.urandom(self.data_size)

    def path(self, *parts) -> str:
        return os.path.join(self.tmp, *parts)

    # --- help and version --------------------------------------------------------------------

    def help_and_version_everywhere(self):
        version_rx = r"^minibit-{} \d+\.\d+\.\d+ \(([0-9a-f]{{7,40}}|unknown)\)$"
        programs = [
            ("peer", self.peer, ["create", "info", "get", "seed", "agent", "add", "list", "status",
                                 "pause", "resume", "remove", "wait"]),
            ("tracker", self.tracker, []),
            ("loadgen", self.loadgen, ["swarm", "announce", "floor"]),
        ]
        for name, program, subcommands in programs:
            top = run([program, "--help"])
            check(top.returncode == 0, f"minibit-{name} --help exits {top.returncode}", top.stderr)
            # A subcommand the help lists but this test does not know would go unchecked.
            section = top.stdout.split("Subcommands:", 1)
            listed = re.findall(r"^  ([a-z-]+) ", section[1], re.M) if len(section) == 2 else []
            for sub in listed:
                check(sub in subcommands, f"minibit-{name} --help lists '{sub}', unchecked here")
            for sub in [None] + subcommands:
                cmd = [program] + ([sub] if sub else [])
                label = " ".join([f"minibit-{name}"] + ([sub] if sub else []))
                if sub:
                    check(re.search(rf"\b{sub}\b", top.stdout) is not None,
                          f"minibit-{name} --help does not name '{sub}'", top.stdout)
                h = run(cmd + ["--help"])
                check(h.returncode == 0 and h.stderr == "", f"{label} --help: exit {h.returncode}",
                      h.stderr)
                check(f"Usage: {label}" in h.stdout, f"{label} --help has no usage line", h.stdout)
                v = run(cmd + ["--version"])
                check(v.returncode == 0 and v.stderr == "", f"{label} --version: exit "
                      f"{v.returncode}", v.stderr)
                check(re.match(version_rx.format(name), v.stdout.strip()) is not None,
                      f"{label} --version does not say version and commit", v.stdout)

    # --- create and info ---------------------------------------------------------------------

    def create_and_info(self, url: str, out: str):
        os.makedirs(self.path("data"), exist_ok=True)
        src = self.path("data", "data.bin")
        if not os.path.exists(src):
            with open(src, "wb") as f:
                f.write(self.data)
        c = run([self.peer, "create", src, "--tracker", url, "-o", out], env=self.env)
        check(c.returncode == 0, f"create --tracker {url} exits {c.returncode}", c.stderr)
        info_hash = lines(c.stdout)[-1]
        check(re.fullmatch(r"[0-9a-f]{40}", info_hash) is not None,
              "create's last line is not the info hash", c.stdout)
        i = run([self.peer, "info", "--json", out], env=self.env)
        check(i.returncode == 0, f"info --json exits {i.returncode}", i.stderr)
        import json  # noqa: PLC0415 - only here

        j = json.loads(i.stdout)
        check(j["name"] == "data.bin" and j["info_hash"] == info_hash, "info --json name/hash",
              i.stdout)
        check(j["total_size"] == self.data_size, "info --json total_size", i.stdout)
        plen = j["piece_length"]
        check(plen > 0 and j["piece_count"] == -(-self.data_size // plen),
              "info --json piece_count is not size / piece_length rounded up", i.stdout)
        check(j["files"] == [{"path": "data.bin", "length": self.data_size}], "info --json files",
              i.stdout)
        check(j["trackers"] == [[url]], "info --json trackers", i.stdout)
        check(j["private"] is False, "info --json private", i.stdout)
        return info_hash, j["piece_count"]

    # --- the tracker -------------------------------------------------------------------------

    def start_tracker(self, port: int):
        at = f"127.0.0.1:{port}"
        t = self.procs.start([self.tracker, "--http", at, "--udp", at, "--threads", "2",
                              "--interval", "2", "--min-interval", "1", "--log-level", "warn"],
                             log=self.path("tracker.log"))
        check(wait_tcp(port, t, 10), "minibit-tracker does not accept on its port",
              read(self.path("tracker.log")))
        return t

    def second_tracker_refused(self, port: int, first: subprocess.Popen):
        at = f"127.0.0.1:{port}"
        for http, udp in ((at, "off"), ("off", at)):
            r = run([self.tracker, "--http", http, "--udp", udp, "--log-level", "warn"],
                    timeout=10)
            check(r.returncode == 1, f"a second tracker on {at} (http {http}, udp {udp}) exits "
                  f"{r.returncode}, not 1", r.stderr)
            check(len(lines(r.stderr)) == 1 and f"address {at} is in use" in r.stderr,
                  "the second tracker does not say in one line that the address is in use",
                  r.stderr)
        check(first.poll() is None, "the first tracker died when the second was refused")

    # --- read-only data ----------------------------------------------------------------------

    def read_only_data(self, own_mounts: bool) -> str:
        ro = self.path("ro")
        os.makedirs(ro)
        if own_mounts:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "minibit-first-hour", ro],
                           check=True, timeout=10)
        with open(os.path.join(ro, "data.bin"), "wb") as f:
            f.write(self.data)
        if own_mounts:
            subprocess.run(["mount", "-o", "remount,ro", ro], check=True, timeout=10)
        else:
            os.chmod(os.path.join(ro, "data.bin"), 0o444)
            os.chmod(ro, 0o555)
        # Read-only for real: this process (root or not) cannot open the file for writing.
        try:
            with open(os.path.join(ro, "data.bin"), "r+b"):
                pass
            writable = True
        except OSError:
            writable = False
        check(not writable, f"{ro}/data.bin is still writable; the test would prove nothing")
        return ro

    def seed_and_get(self, proto: str, torrent: str, ro: str, pieces: int, env: dict):
        before = (tree(ro), file_state(os.path.join(ro, "data.bin")))
        seeder = self.procs.start([self.peer, "seed", torrent, ro, "--for", "40"], env=env)
        out = Reader(seeder.stdout)
        err = Reader(seeder.stderr)
        said = out.wait_for(r"^seeding data\.bin on port \d+ \(info_hash [0-9a-f]{40}\)$", 10)
        if said is None:
            seeder.terminate()
        check(said is not None, f"{proto}: the seeder never says which port it listens on",
              out.text() + "\n" + err.text() if said is None else "")
        dest = self.path("got-" + proto)
        get = run([self.peer, "get", torrent, "-o", dest, "--timeout", "20"], env=env, timeout=30)
        if get.returncode != 0:
            seeder.terminate()
            check(False, f"{proto}: get exits {get.returncode}",
                  get.stderr + "\n--- seeder ---\n" + err.text())
        with open(os.path.join(dest, "data.bin"), "rb") as f:
            check(f.read() == self.data, f"{proto}: the copy differs from the original")
        summary = lines(get.stderr)[-1] if lines(get.stderr) else ""
        check(re.search(rf"get complete: .*\({self.data_size} bytes\) downloaded in .* s "
                        rf"\(.*/s average\), .*peers.*, {pieces}/{pieces} pieces verified",
                        summary) is not None, f"{proto}: get ends without its summary line",
              get.stderr)
        check("failed" not in get.stderr, f"{proto}: get reports a failure", get.stderr)
        seeder.terminate()
        check(seeder.wait(timeout=10) == 0, f"{proto}: seeder exits {seeder.returncode} on "
              "SIGTERM", err.text())
        check(re.search(r"seed ended: .* uploaded", err.text()) is not None,
              f"{proto}: the seeder ends without its summary line", err.text())
        check((tree(ro), file_state(os.path.join(ro, "data.bin"))) == before,
              f"{proto}: seeding changed the read-only folder or file")

    # --- tls in front of the tracker ---------------------------------------------------------

    def start_tls(self, http_port: int):
        stunnel = next((p for p in ("/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4")
                        if os.access(p, os.X_OK)), None)
        openssl = shutil.which("openssl")
        if stunnel is None or openssl is None:
            skip_or_fail("stunnel4 or openssl is not installed")
        cert, key = self.path("cert.pem"), self.path("key.pem")
        r = run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                 "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        check(r.returncode == 0, "openssl could not make a certificate", r.stderr)
        tls_port = free_port()
        conf = self.path("stunnel.conf")
        with open(conf, "w") as f:
            f.write(f"foreground = yes\npid =\n[tracker]\naccept = 127.0.0.1:{tls_port}\n"
                    f"connect = 127.0.0.1:{http_port}\ncert = {cert}\nkey = {key}\n")
        s = self.procs.start([stunnel, conf], log=self.path("stunnel.log"))
        check(wait_tcp(tls_port, s, 10), "stunnel does not accept", read(self.path("stunnel.log")))
        return tls_port, cert

    # --- errors a new user meets -------------------------------------------------------------

    def unreachable_tracker_named(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]  # closed again: nothing listens there
        url = f"http://127.0.0.1:{dead}/announce"
        torrent = self.path("dead.torrent")
        self.create_and_info(url, torrent)
        def get_cmd(dest):
            return [self.peer, "get", torrent, "-o", self.path(dest), "--timeout", "4"]

        on_tty = TtyRun(get_cmd("got-dead-tty"), self.env)  # the same get, on a terminal
        get = self.procs.start(get_cmd("got-dead"), env=self.env)
        err = Reader(get.stderr)
        said = err.wait_for(re.escape(url) + r".*failed.*refused", 5)
        try:
            status = get.wait(timeout=15)
        except subprocess.TimeoutExpired:
            status = None
        text = err.text()
        tty_status, shown = on_tty.finish(15)
        tty_said = [(at, l) for at, l in shown if url in l and "failed" in l and "refused" in l]
        check(tty_said != [] and tty_said[0][0] < 5.0, "get on a terminal does not name the "
              "unreachable tracker and why within 5 s", repr(shown))
        progress = [l for at, l in shown if at < 5.0 and re.search(r"^\s*0\.0%", l)]
        check(any("peers 0 (0 unchoking us)" in l and "tracker failing" in l for l in progress),
              "the progress line on a terminal does not show the peers and the failing tracker "
              "within 5 s", repr(shown))
        check(tty_status == 1, f"get on a terminal exits {tty_status} after --timeout",
              repr(shown))
        check(said is not None, "get with stderr on a pipe does not name the unreachable tracker "
              "and why within 5 s", text)
        check(said[0] < 5.0, f"the unreachable tracker was named after {said[0]:.1f} s", text)
        check(status == 1, f"get with an unreachable tracker exits {status} after --timeout", text)
        last = lines(text)[-1]
        check("timed out" in last and url in last, "the last line does not say it timed out "
              "and which tracker failed", text)
        check(not os.path.exists(os.path.join(self.path("got-dead"), "data.bin")),
              "a get that verified nothing left its file behind")

    def refused_seed_changes_nothing(self, torrent: str):
        short = self.path("short")
        os.makedirs(short)
        victim = os.path.join(short, "data.bin")
        with open(victim, "wb") as f:
            f.write(self.data[: self.data_size // 2])
        old = 1_500_000_000_000_000_000  # 2017: a change of mtime cannot hide in the same second
        os.utime(victim, ns=(old, old))
        before = (tree(short), file_state(victim), tree(self.env["XDG_STATE_HOME"])
                  if os.path.isdir(self.env["XDG_STATE_HOME"]) else [])
        state = self.path("refused-state")
        time.sleep(0.02)  # so that any write would move ctime
        r = run([self.peer, "seed", torrent, short, "--for", "5", "--state-dir", state],
                env=self.env)
        check(r.returncode == 1, f"seed of a truncated copy exits {r.returncode}, not 1", r.stderr)
        check(len(lines(r.stderr)) == 1 and victim in r.stderr and "expected" in r.stderr,
              "the refused seed does not say in one line which file is short", r.stderr)
        after = (tree(short), file_state(victim), tree(self.env["XDG_STATE_HOME"])
                 if os.path.isdir(self.env["XDG_STATE_HOME"]) else [])
        check(after[1] == before[1], "the refused seed changed the file (bytes, size, times or "
              f"mode): before {before[1]}, after {after[1]}")
        check(after[0] == before[0], f"the refused seed created files beside the data: {after[0]}")
        check(after[2] == before[2], "the refused seed wrote a resume file in the state folder")
        check(not os.path.exists(state), "the refused seed created its --state-dir")

    def get_into_proc_sys(self, torrent: str):
        r = run([self.peer, "get", torrent, "-o", "/proc/sys", "--timeout", "5"], env=self.env)
        check(r.returncode == 1, f"get -o /proc/sys exits {r.returncode}", r.stderr)
        check(len(lines(r.stderr)) == 1 and "/proc/sys is not writable" in r.stderr and
              "space" not in r.stderr, "get -o /proc/sys does not say it is not writable",
              r.stderr)

    def create_with_a_bad_tracker(self):
        cwd = self.path("cwd")
        os.makedirs(cwd)
        src = self.path("data", "data.bin")
        for extra in ([], ["-o", self.path("bad.torrent")]):
            r = run([self.peer, "create", src, "--tracker", "notaurl"] + extra, cwd=cwd,
                    env=self.env)
            check(r.returncode == 2, f"create --tracker notaurl exits {r.returncode}, not 2",
                  r.stderr)
            check(len(lines(r.stderr)) == 1 and "--tracker" in r.stderr,
                  "create --tracker notaurl does not say in one line what is wrong", r.stderr)
            check(tree(cwd) == [] and not os.path.exists(self.path("bad.torrent")),
                  "create --tracker notaurl wrote a file")


def enter_private_mounts() -> bool:
    """As root: a mount namespace of our own (children inherit it), so mounts vanish with us."""
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns = 0x00020000
    if libc.unshare(clone_newns) != 0:
        return False
    return subprocess.run(["mount", "--make-rprivate", "/"], timeout=10).returncode == 0


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    peer, tracker, loadgen = (os.path.abspath(p) for p in sys.argv[1:4])
    signal.alarm(90)  # bounded whatever happens; SIGALRM ends the script (and fails the test)
    own_mounts = enter_private_mounts()
    if os.geteuid() == 0 and not own_mounts:
        skip_or_fail("root without a private mount namespace: no read-only mount to seed from")
    tmp = tempfile.mkdtemp(prefix="minibit-first-hour-")
    procs = Procs()
    ro = None
    try:
        h = FirstHour(peer, tracker, loadgen, tmp, procs)
        step("--help and --version on every program and subcommand")
        h.help_and_version_everywhere()

        port = free_port()
        http_url = f"http://127.0.0.1:{port}/announce"
        step("create a torrent for an http:// tracker, read it back with info --json")
        info_hash, pieces = h.create_and_info(http_url, h.path("http.torrent"))

        step("start minibit-tracker; a second one on its port is refused")
        first = h.start_tracker(port)
        h.second_tracker_refused(port, first)

        step("seed read-only data " + ("(a read-only tmpfs mount)" if own_mounts else
                                       "(files and folder without write permission)"))
        ro = h.read_only_data(own_mounts)
        tls_port, cert = h.start_tls(port)
        trackers = {
            "http": (http_url, h.env),
            "udp": (f"udp://127.0.0.1:{port}", h.env),
            "https": (f"https://127.0.0.1:{tls_port}/announce", dict(h.env, SSL_CERT_FILE=cert)),
        }
        for proto, (url, env) in trackers.items():
            step(f"get it over an {proto}:// tracker")
            torrent = h.path(proto + ".torrent")
            same_hash, _ = h.create_and_info(url, torrent)
            check(same_hash == info_hash, "the info hash depends on the tracker")
            h.seed_and_get(proto, torrent, ro, pieces, env)

        step("an unreachable tracker is named within 5 s (stderr on a pipe)")
        h.unreachable_tracker_named()
        step("seed of a truncated copy is refused and changes nothing")
        h.refused_seed_changes_nothing(h.path("http.torrent"))
        step("get -o /proc/sys says it is not writable")
        h.get_into_proc_sys(h.path("http.torrent"))
        step("create --tracker notaurl exits 2 and writes nothing")
        h.create_with_a_bad_tracker()
        check(first.poll() is None, "the tracker died during the run")
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        if ro is not None and own_mounts:
            subprocess.run(["umount", "-l", ro], timeout=10)
        for root, dirs, _ in os.walk(tmp):  # the non-root read-only folder, to remove it
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(tmp, ignore_errors=True)
    step("ok: the first hour went as a user expects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
