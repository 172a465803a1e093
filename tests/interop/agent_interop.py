"""The host agent (`minibit-peer agent`) against libtorrent, both directions, through minibit-tracker.

Usage: /usr/bin/python3 agent_interop.py MINIBIT_PEER MINIBIT_TRACKER
One agent on 127.0.0.1 (its own state folder, socket and listen port) and one minibit-tracker:
  lt_leech: a torrent added to the agent through the API (POST /v1/torrents with the .torrent's
            bytes) over data already in its download folder; a libtorrent session downloads it
            from the agent, and the agent reports the upload;
  lt_seed:  a libtorrent session seeds a torrent; `minibit-peer add FILE -o DIR` puts it in the
            agent and `minibit-peer wait HASH` returns 0 once the agent has it.
Both copies are checked byte for byte (SHA-256 and size) against the original. Every wait is
bounded; every process the test started is ended by PID on every exit path. Skips (77) when
libtorrent is missing (fails under CI=true).
"""
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import peer_clients as pc  # noqa: E402

SIZE = 3 * 1024 * 1024 + 4321        # 49 pieces of 64 KiB, the last one short
DEADLINE_S = 90


class unix_http(http.client.HTTPConnection):
    """HTTP/1.1 over the agent's Unix control socket."""

    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def api(sock: str, method: str, path: str, body: bytes = None, ctype: str = None):
    conn = unix_http(sock)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def same_bytes(got: str, original: str, who: str) -> None:
    assert os.path.exists(got), f"{who}: {got} is missing"
    assert os.path.getsize(got) == os.path.getsize(original), \
        f"{who}: {os.path.getsize(got)} bytes, original {os.path.getsize(original)}"
    assert sha256(got) == sha256(original), f"{who}: the copy differs from the original"


class fixture:
    """The tracker, the agent and the folders both cases share."""

    def __init__(self, peer: str, tracker: str, lt, root: str):
        self.peer, self.lt, self.root = peer, lt, root
        self.procs = pc.procs()
        self.logs = []
        self.tracker_port = pc.free_port()
        self.procs.start("minibit-tracker",
                         [tracker, "--http", f"127.0.0.1:{self.tracker_port}", "--udp", "off",
                          "--threads", "1", "--interval", "5", "--min-interval", "1",
                          "--log-level", "warn"], self.log("tracker"))
        pc.wait_for("minibit-tracker", lambda: pc.tracker_up(self.tracker_port),
                    time.monotonic() + 10)
        self.downloads = os.path.join(root, "agent-downloads")
        os.makedirs(self.downloads)
        self.sock = os.path.join(root, "agent.sock")
        self.agent = self.procs.start(
            "minibit-peer agent",
            [peer, "agent", "--state-dir", os.path.join(root, "agent-state"), "--download-dir",
             self.downloads, "--socket", self.sock, "--listen", f"127.0.0.1:{pc.free_port()}",
             "--rechoke-interval", "0.2", "--hashing-threads", "1"], self.log("agent"))
        pc.wait_for("the agent's socket", self.agent_up, time.monotonic() + 15)

    def log(self, name: str) -> str:
        path = os.path.join(self.root, f"{name}.log")
        self.logs.append(path)
        return path

    def agent_up(self) -> bool:
        assert self.agent.poll() is None, f"the agent exited {self.agent.returncode}"
        try:
            return api(self.sock, "GET", "/v1/status")[0] == 200
        except OSError:
            return False

    def make_torrent(self, folder: str, name: str, seed: int):
        """A random payload.bin in `folder` and its torrent; returns (data, torrent, info hash)."""
        data = os.path.join(folder, "payload.bin")
        common.write_random(data, SIZE, seed=seed)
        torrent = os.path.join(self.root, f"{name}.torrent")
        announce = f"http://127.0.0.1:{self.tracker_port}/announce"
        return data, torrent, pc.create_torrent(self.peer, data, announce, torrent)

    def torrent_state(self, info_hash: str) -> dict:
        status, body = api(self.sock, "GET", f"/v1/torrents/{info_hash}")
        assert status == 200, f"GET /v1/torrents/{info_hash}: {status} {body}"
        assert body["state"] != "error", f"the agent reports an error: {body}"
        return body

    def lt_session(self):
        return pc.lt_session(self.lt)


def case_lt_leech(fx: fixture, deadline: float) -> None:
    """libtorrent downloads from the agent; the torrent is added through the API."""
    source = os.path.join(fx.downloads, "served")
    data, torrent, info_hash = fx.make_torrent(source, "served", seed=11)
    with open(torrent, "rb") as f:
        status, body = api(fx.sock, "POST", f"/v1/torrents?data_dir={source}", f.read(),
                           "application/x-bittorrent")
    assert status == 201, f"POST /v1/torrents: {status} {body}"
    assert body["info_hash"] == info_hash, f"the agent names it {body['info_hash']}"
    pc.wait_for("the agent to verify its data and seed",
                lambda: fx.torrent_state(info_hash)["state"] == "seeding", deadline)
    pc.wait_for("the agent to announce as a seeder",
                lambda: pc.scrape(fx.lt, fx.tracker_port, info_hash)[0] >= 1, deadline)
    ses = fx.lt_session()
    folder = os.path.join(fx.root, "lt-leech")
    h = ses.add_torrent({"ti": fx.lt.torrent_info(torrent), "save_path": folder})
    pc.wait_for("libtorrent to finish from the agent", lambda: h.status().is_seeding, deadline)
    del h, ses
    same_bytes(os.path.join(folder, "payload.bin"), data, "libtorrent (from the agent)")
    up = fx.torrent_state(info_hash)["bytes_uploaded"]
    assert up >= SIZE, f"the agent reports {up} bytes uploaded, less than the {SIZE} served"


def case_lt_seed(fx: fixture, deadline: float) -> None:
    """The agent downloads from a libtorrent seed; added and awaited with the CLI verbs."""
    seed_dir = os.path.join(fx.root, "lt-seed")
    data, torrent, info_hash = fx.make_torrent(seed_dir, "fetched", seed=12)
    ses = fx.lt_session()
    ses.add_torrent({"ti": fx.lt.torrent_info(torrent), "save_path": seed_dir,
                     "flags": fx.lt.torrent_flags.seed_mode})
    pc.wait_for("libtorrent to announce as a seeder",
                lambda: pc.scrape(fx.lt, fx.tracker_port, info_hash)[0] >= 1, deadline)
    target = os.path.join(fx.downloads, "fetched")
    add = common.run([fx.peer, "add", torrent, "-o", target, "--socket", fx.sock], timeout=20)
    assert info_hash in add.stdout, f"`add` printed {add.stdout!r}, not {info_hash}"
    wait = subprocess.run([fx.peer, "wait", info_hash, "--timeout", str(int(pc.left(deadline))),
                           "--socket", fx.sock], capture_output=True, text=True,
                          timeout=pc.left(deadline) + 10)
    assert wait.returncode == 0, f"`wait` exited {wait.returncode}: {wait.stderr.strip()}"
    state = fx.torrent_state(info_hash)
    assert state["state"] == "seeding" and state["bytes_left"] == 0, f"after wait: {state}"
    assert state["bytes_downloaded"] >= SIZE, f"downloaded {state['bytes_downloaded']} bytes"
    del ses
    same_bytes(os.path.join(target, "payload.bin"), data, "the agent (from libtorrent)")


CASES = {"lt_leech": case_lt_leech, "lt_seed": case_lt_seed}


def on_sigterm(signum, _frame):
    # meson's timeout sends SIGTERM: unwind through every `finally`, which ends our processes.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    peer, tracker = sys.argv[1], sys.argv[2]
    lt = common.import_libtorrent()
    root = common.temp_dir()
    failed = []
    fx = None
    try:
        fx = fixture(peer, tracker, lt, root)
        failed = pc.run_cases(CASES, fx, DEADLINE_S)
        rc = fx.procs.stop(fx.agent)
        if rc != 0:
            failed.append(f"agent exited {rc} on SIGTERM")
    finally:
        if fx is not None:
            fx.procs.stop_all()
        pc.clean_up(root, failed, fx.logs if fx is not None else ())
    return pc.verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
