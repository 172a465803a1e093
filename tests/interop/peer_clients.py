"""Starting and watching the programs of the peer interop test: minibit-peer, minibit-tracker,
aria2c, transmission-cli and libtorrent sessions, all on 127.0.0.1 with ports from the kernel.

Every process goes into one `procs` registry; `procs.stop_all()` ends each of them (SIGTERM, then
SIGKILL after 5 s) and is called on every exit path of a case.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse
import urllib.request

PIECE_SIZE = 64 * 1024


def free_port() -> int:
    """A TCP port free right now, chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, pred, deadline: float, poll_s: float = 0.2) -> None:
    """Polls `pred` until it holds; raises once `deadline` (monotonic) passes."""
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


class procs:
    """The processes one case started, ended together."""

    def __init__(self):
        self.items = []   # (name, Popen)

    def start(self, name: str, cmd, log_path: str) -> subprocess.Popen:
        log = open(log_path, "wb")
        try:
            # Same process group as the test, so that meson's kill on timeout reaches them too.
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.items.append((name, p))
        return p

    def stop(self, p: subprocess.Popen) -> int:
        """SIGTERM, then SIGKILL after 5 s; returns the exit status."""
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                return p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        return p.wait(timeout=10)

    def stop_all(self) -> None:
        for _, p in reversed(self.items):
            self.stop(p)
        self.items.clear()


def scrape(lt, tracker_port: int, info_hash_hex: str) -> tuple:
    """(complete, incomplete) for one info hash from minibit-tracker's HTTP scrape."""
    raw = bytes.fromhex(info_hash_hex)
    url = f"http://127.0.0.1:{tracker_port}/scrape?info_hash={urllib.parse.quote(raw, safe='')}"
    with urllib.request.urlopen(url, timeout=5) as r:
        d = lt.bdecode(r.read())
    entry = d[b"files"].get(raw, {b"complete": 0, b"incomplete": 0})
    return entry[b"complete"], entry[b"incomplete"]


def tracker_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=2) as r:
            json.loads(r.read())
        return True
    except OSError:
        return False


def create_torrent(peer: str, data: str, announce: str, out: str) -> str:
    """minibit-peer create (a v1 torrent); returns the info hash in hex."""
    proc = subprocess.run([peer, "create", data, "--tracker", announce,
                           "--piece-size", str(PIECE_SIZE), "-o", out],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"minibit-peer create exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.strip().splitlines()[-1].strip()


def minibit_cmd(peer: str, mode: str, torrent: str, path: str, log: str, timeout_s: float):
    """`get` into `path` or `seed` from `path`, listening on a kernel port at 127.0.0.1."""
    cmd = [peer, mode, torrent]
    cmd += ["-o", path, "--timeout", str(int(timeout_s))] if mode == "get" else [path]
    level = os.environ.get("MINIBIT_INTEROP_LOG_LEVEL", "debug")
    io = os.environ.get("MINIBIT_INTEROP_IO", "auto")
    return cmd + ["--listen", "127.0.0.1", "--port", "0", "--rechoke-interval", "0.2",
                  "--io", io, "--log", log, "--log-level", level]


def aria2_cmd(torrent: str, folder: str, seed: bool) -> list:
    cmd = ["aria2c", f"--dir={folder}", f"--listen-port={free_port()}",
           "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
           "--enable-peer-exchange=false", "--console-log-level=notice", "--summary-interval=0",
           "--bt-tracker-connect-timeout=5", "--bt-tracker-timeout=5", "--bt-require-crypto=false",
           "--file-allocation=none"]
    # --seed-ratio=0.0: seed for --seed-time only (the default ratio 1.0 stops after one copy).
    cmd += ["--check-integrity=true", "--bt-seed-unverified=true", "--seed-time=60",
            "--seed-ratio=0.0"] if seed \
        else ["--seed-time=0"]
    return cmd + [torrent]


def transmission_cmd(torrent: str, folder: str, config: str) -> list:
    """transmission-cli seeding `folder`; DHT, LPD, uTP and PEX off in its settings.json."""
    os.makedirs(config, exist_ok=True)
    settings = {"dht-enabled": False, "lpd-enabled": False, "utp-enabled": False,
                "pex-enabled": False, "port-forwarding-enabled": False, "encryption": 0,
                "bind-address-ipv4": "127.0.0.1", "peer-port-random-on-start": False,
                "speed-limit-up-enabled": False, "speed-limit-down-enabled": False}
    with open(os.path.join(config, "settings.json"), "w") as f:
        json.dump(settings, f)
    return ["transmission-cli", "-g", config, "-w", folder, "-p", str(free_port()), "-M", "-et",
            "-D", "-U", torrent]


def lt_session(lt):
    return lt.session({
        "listen_interfaces": f"127.0.0.1:{free_port()}",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "alert_mask": 0,
    })


def tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace").splitlines()
        return "\n".join(text[-lines:])
    except OSError:
        return "(no log)"


def run_cases(cases, fx, deadline_s: float, after_each=None) -> list:
    """Runs each case(fx, deadline) in turn, printing PASS or FAIL with its traceback and going
    on after a failure; calls after_each() after every case. Returns the failed cases' names."""
    failed = []
    for name, case in cases.items():
        started = time.monotonic()
        try:
            case(fx, started + deadline_s)
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception:  # noqa: BLE001 - report the case and go on with the next
            print(f"FAIL {name} ({time.monotonic() - started:.1f} s)", flush=True)
            traceback.print_exc(file=sys.stdout)
            failed.append(name)
        finally:
            if after_each is not None:
                after_each()
    return failed


def clean_up(root: str, failed: list, logs=()) -> None:
    """Prints the tails of `logs` when a case failed and removes `root` (kept with
    MINIBIT_INTEROP_KEEP=1)."""
    if failed:
        for path in logs:
            print(f"--- tail of {path}\n{tail(path)}", flush=True)
    if os.environ.get("MINIBIT_INTEROP_KEEP") == "1":
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def verdict(failed: list, passed: str = "all cases passed") -> int:
    """Prints how many cases failed (or `passed`) and returns the exit code."""
    print(f"{len(failed)} failed: {failed}" if failed else passed)
    return 1 if failed else 0
