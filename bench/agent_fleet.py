#!/usr/bin/python3
"""A fleet of host agents against one process per torrent per host: wall time and CPU per GiB.

    bench/agent_fleet.py [--build build] [--hosts 10] [--torrents 50] [--size 8MiB] [--runs 3]

The same job twice, side by side in one run (the order alternates from run to run):
  agents: H `minibit-peer agent` processes on 127.0.0.1, each with its own state folder, control
          socket, download folder and listen port. Agent 0 (the origin) is given every torrent
          through the API (JSON form, over the original data) and seeds them all; once it
          announced every torrent, one thread per host does what a deploy script would:
          subscribe to its agent's event stream (GET /v1/events), add every torrent through the
          API (the .torrent's bytes), and read events until every torrent reported completed.
  gets:   one `minibit-peer seed` process per torrent over the same original data; once each
          announced, one `minibit-peer get` process per torrent per host (H-1 hosts), all at once;
          done when every get exited 0.
Both use one minibit-tracker (started once), --rechoke-interval 0.2 and 127.0.0.1. Wall time runs
from the first add (or get) to the last completion; the seeding side is ready before it starts.
`median_host_s` is the median of the hosts' own completion times, `last_add_s` when the last add
was answered (the last get was spawned).
CPU is user + system time of every process of the mode (origin or seeds included; the tracker
and this script excluded), from wait4(2) of each when it ends; agents and seeds are stopped with
SIGTERM once the copies are complete. Every copy is compared (SHA-256) with the original after
each run. Prints every run as JSON, then a table of medians (min-max) and the ratio. Bounded:
each wait has a deadline (--timeout); every process the script started is stopped by PID.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from agent_api import call, free_port


def api(sock, method, path, body=None, ctype=None):
    status, raw = call(sock, method, path, body, ctype)
    return status, json.loads(raw or b"null")


def parse_size(text):
    units = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30,
             "gib": 1 << 30}
    t = text.strip().lower()
    digits = t.rstrip("kmgib")
    return int(digits) * units[t[len(digits):]]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wait_until(what, pred, deadline, poll=0.1):
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll)
    raise RuntimeError(f"timed out waiting for {what}")


def scrape_complete(tracker_port, info_hash):
    """Seeders the tracker counts for one torrent (bencoded scrape, parsed by hand: no deps)."""
    raw = bytes.fromhex(info_hash)
    q = "".join(f"%{b:02X}" for b in raw)
    conn = http.client.HTTPConnection("127.0.0.1", tracker_port, timeout=5)
    try:
        conn.request("GET", f"/scrape?info_hash={q}")
        body = conn.getresponse().read()
    finally:
        conn.close()
    key = b"8:complete"
    at = body.find(key)
    if at < 0:
        return 0
    end = body.index(b"e", at + len(key))
    return int(body[at + len(key) + 1:end])


class processes:
    """Children of one mode; each is reaped with wait4 so its own CPU time is known."""

    def __init__(self):
        self.live = []          # Popen
        self.cpu_s = 0.0
        self.max_rss_kib = []   # peak RSS of each reaped process

    def start(self, cmd, log):
        with open(log, "ab") as f:
            p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        self.live.append(p)
        return p

    def reap(self, p, block=True):
        """The exit status of p (None when still running and block is false)."""
        pid, status, ru = os.wait4(p.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return None
        p.returncode = os.waitstatus_to_exitcode(status)
        self.live.remove(p)
        self.cpu_s += ru.ru_utime + ru.ru_stime
        self.max_rss_kib.append(ru.ru_maxrss)
        return p.returncode

    def stop(self, p, grace=15):
        if p.returncode is not None:
            return p.returncode
        # os.kill, not Popen.send_signal: that polls first and would reap p without wait4.
        os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            rc = self.reap(p, block=False)
            if rc is not None:
                return rc
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        return self.reap(p)

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p)


class job:
    """The data, the torrents and the tracker every run shares."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.peer = os.path.abspath(os.path.join(args.build, "minibit-peer"))
        tracker = os.path.abspath(os.path.join(args.build, "minibit-tracker"))
        self.origin = os.path.join(work, "origin")
        os.makedirs(os.path.join(self.origin, "torrents"))
        self.tracker_port = free_port()
        self.tracker = subprocess.Popen(
            [tracker, "--http", f"127.0.0.1:{self.tracker_port}", "--udp", "off", "--threads",
             "1", "--interval", "5", "--min-interval", "1", "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.items = []   # (name, torrent path, info hash, sha256)
        for i in range(args.torrents):
            name = f"item{i:03d}.bin"
            data = os.path.join(self.origin, name)
            with open(data, "wb") as f:
                for _ in range(0, args.size, 1 << 20):
                    f.write(os.urandom(min(1 << 20, args.size)))
                f.truncate(args.size)
            torrent = os.path.join(self.origin, "torrents", f"item{i:03d}.torrent")
            out = subprocess.run([self.peer, "create", data, "--tracker",
                                  f"http://127.0.0.1:{self.tracker_port}/announce", "-o",
                                  torrent], check=True, capture_output=True, text=True)
            self.items.append((name, torrent, out.stdout.strip().splitlines()[-1].strip(),
                               sha256(data)))

    def all_announced(self, seeders):
        return all(scrape_complete(self.tracker_port, h) >= seeders for _, _, h, _ in self.items)

    def verify(self, folder):
        for name, _, _, digest in self.items:
            got = os.path.join(folder, name)
            if not os.path.exists(got) or sha256(got) != digest:
                raise RuntimeError(f"{got}: missing or different from the original")

    def close(self):
        self.tracker.terminate()
        self.tracker.wait(timeout=15)


def agent_cmd(fx, root, name, downloads):
    sock = os.path.join(root, f"{name}.sock")
    cmd = [fx.peer, "agent", "--state-dir", os.path.join(root, f"{name}-state"), "--download-dir",
           downloads, "--socket", sock, "--listen", f"127.0.0.1:{free_port()}",
           "--rechoke-interval", "0.2"]
    return cmd, sock


def host_worker(sock, torrents, wanted, start, deadline, result):
    """What a deploy script on one host does: subscribe to the agent's events, add every torrent
    (the .torrent's bytes), then read events until each torrent reported `completed`. Fills
    result: added_s and done_s (seconds after start), or error."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.settimeout(2)
        s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        buf, event, done, subscribed = b"", None, set(), False
        while done != wanted and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise RuntimeError("the event stream ended")
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if line.startswith(b": subscribed") and not subscribed:
                    subscribed = True
                    for body in torrents:
                        status, answer = api(sock, "POST", "/v1/torrents", body,
                                             "application/x-bittorrent")
                        if status != 201:
                            raise RuntimeError(f"add: {status} {answer}")
                    result["added_s"] = time.monotonic() - start
                elif line.startswith(b"event: "):
                    event = line[7:].decode()
                elif line.startswith(b"data: ") and event in ("completed", "error"):
                    data = json.loads(line[6:])
                    if event == "error":
                        raise RuntimeError(f"agent error event: {data}")
                    done.add(data["info_hash"])
        s.close()
        if done != wanted:
            raise RuntimeError(f"{len(done)} of {len(wanted)} torrents completed in time")
        result["done_s"] = time.monotonic() - start
    except Exception as e:  # noqa: BLE001 - reported by the caller
        result["error"] = repr(e)


def run_agents(fx, root):
    args, procs = fx.args, processes()
    try:
        origin_cmd, origin_sock = agent_cmd(fx, root, "agent0", fx.origin)
        origin = procs.start(origin_cmd, os.path.join(root, "agent0.log"))
        deadline = time.monotonic() + args.timeout
        wait_until("the origin agent", lambda: os.path.exists(origin_sock), deadline)
        hosts = []
        for h in range(1, args.hosts):
            downloads = os.path.join(root, f"host{h}")
            os.makedirs(downloads)
            cmd, sock = agent_cmd(fx, root, f"agent{h}", downloads)
            procs.start(cmd, os.path.join(root, f"agent{h}.log"))
            hosts.append((sock, downloads))
        for _, torrent, _, _ in fx.items:
            status, body = api(origin_sock, "POST", "/v1/torrents",
                               json.dumps({"torrent_path": torrent, "data_dir": fx.origin}).encode(),
                               "application/json")
            if status != 201:
                raise RuntimeError(f"origin add: {status} {body}")
        wait_until("the origin to seed and announce everything", lambda: fx.all_announced(1),
                   deadline, poll=0.5)
        for sock, _ in hosts:
            wait_until("every agent's socket", lambda s=sock: os.path.exists(s), deadline)
        torrents = [open(t, "rb").read() for _, t, _, _ in fx.items]
        wanted = {h for _, _, h, _ in fx.items}
        start = time.monotonic()
        deadline = start + args.timeout
        workers = []
        for sock, _ in hosts:
            result = {}
            t = threading.Thread(target=host_worker,
                                 args=(sock, torrents, wanted, start, deadline, result))
            t.start()
            workers.append((t, result))
        for t, result in workers:
            t.join(max(1.0, deadline - time.monotonic()))
            if "error" in result or "done_s" not in result:
                raise RuntimeError(f"an agent did not complete: {result.get('error', '')}")
        fx.phase = {"last_add_s": max(r["added_s"] for _, r in workers),
                    "median_host_s": statistics.median(r["done_s"] for _, r in workers)}
        wall = time.monotonic() - start
        for p in list(procs.live):
            rc = procs.stop(p)
            if rc != 0:
                raise RuntimeError(f"an agent exited {rc} on SIGTERM")
        del origin
        for _, downloads in hosts:
            fx.verify(downloads)
        return wall, procs
    finally:
        procs.stop_all()


def run_gets(fx, root):
    args, procs = fx.args, processes()
    common = ["--listen", "127.0.0.1", "--port", "0", "--rechoke-interval", "0.2",
              "--log-level", "warn"]
    try:
        deadline = time.monotonic() + args.timeout
        for _, torrent, _, _ in fx.items:
            procs.start([fx.peer, "seed", torrent, fx.origin, "--state-dir",
                         os.path.join(root, "seed-state")] + common,
                        os.path.join(root, "seeds.log"))
        seeds = list(procs.live)
        wait_until("every seed to announce", lambda: fx.all_announced(1), deadline, poll=0.5)
        start = time.monotonic()
        deadline = start + args.timeout
        gets, folders, logs = [], [], {}
        for h in range(1, args.hosts):
            folder = os.path.join(root, f"host{h}")
            folders.append(folder)
            for i, (_, torrent, _, _) in enumerate(fx.items):
                log = os.path.join(root, f"host{h}-get{i}.log")
                gets.append(procs.start(
                    [fx.peer, "get", torrent, "-o", folder, "--timeout", str(int(args.timeout)),
                     "--state-dir", os.path.join(root, f"host{h}-state")] + common, log))
                logs[gets[-1].pid] = log
        spawned_s = time.monotonic() - start
        host_of = {p.pid: h for h, p in zip(
            [h for h in range(1, args.hosts) for _ in fx.items], gets)}
        host_done = {}
        pending = {p.pid: p for p in gets}
        while pending and time.monotonic() < deadline:
            pid, status, ru = os.wait4(-1, 0)   # any child; every get has --timeout
            p = pending.pop(pid, None)
            if p is None:
                raise RuntimeError(f"process {pid} (a seed or the tracker) exited early")
            p.returncode = os.waitstatus_to_exitcode(status)
            procs.live.remove(p)
            procs.cpu_s += ru.ru_utime + ru.ru_stime
            procs.max_rss_kib.append(ru.ru_maxrss)
            if p.returncode != 0:
                raise RuntimeError(f"a get exited {p.returncode}: {' '.join(p.args)}; "
                                   f"log: {tail(logs[pid])}")
            host_done[host_of[pid]] = time.monotonic() - start
        if pending:
            raise RuntimeError(f"{len(pending)} gets did not finish")
        wall = time.monotonic() - start
        fx.phase = {"last_add_s": spawned_s, "median_host_s": statistics.median(host_done.values())}
        for p in seeds:
            rc = procs.stop(p)
            if rc != 0:
                raise RuntimeError(f"a seed exited {rc} on SIGTERM")
        for folder in folders:
            fx.verify(folder)
        return wall, procs
    finally:
        procs.stop_all()


def tail(path):
    try:
        with open(path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")
    except OSError:
        return "(no log)"


def summary(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--hosts", type=int, default=10, help="processes' hosts, origin included")
    ap.add_argument("--torrents", type=int, default=50)
    ap.add_argument("--size", type=parse_size, default=8 << 20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per phase at most")
    ap.add_argument("--modes", default="agents,gets", help="which jobs, in this order first")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = ap.parse_args()
    if args.hosts < 2 or args.torrents < 1 or args.runs < 1:
        ap.error("need --hosts >= 2, --torrents >= 1, --runs >= 1")
    work = tempfile.mkdtemp(prefix="minibit-agent-fleet-")
    fx = None
    modes = args.modes.split(",")
    if any(m not in ("agents", "gets") for m in modes):
        ap.error("--modes: agents, gets or both")
    runs = {m: [] for m in modes}
    delivered = (args.hosts - 1) * args.torrents * args.size
    try:
        fx = job(args, work)
        for r in range(args.runs):
            order = modes if r % 2 == 0 else list(reversed(modes))
            for mode in order:
                root = os.path.join(work, f"run{r}-{mode}")
                os.makedirs(root)
                wall, procs = (run_agents if mode == "agents" else run_gets)(fx, root)
                row = {"mode": mode, "run": r, "wall_s": round(wall, 3),
                       "median_host_s": round(fx.phase["median_host_s"], 3),
                       "last_add_s": round(fx.phase["last_add_s"], 3),
                       "cpu_s": round(procs.cpu_s, 3),
                       "cpu_s_per_gib": round(procs.cpu_s / (delivered / (1 << 30)), 3),
                       "processes": len(procs.max_rss_kib),
                       "peak_rss_sum_mib": round(sum(procs.max_rss_kib) / 1024, 1),
                       "copies_verified": (args.hosts - 1) * args.torrents}
                runs[mode].append(row)
                print(json.dumps(row), flush=True)
                if not args.keep:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        if fx is not None:
            fx.close()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = {m: {k: summary([row[k] for row in rows])
                 for k in ("wall_s", "cpu_s", "cpu_s_per_gib", "peak_rss_sum_mib")}
             for m, rows in runs.items()}
    table["delivered_gib"] = round(delivered / (1 << 30), 3)
    if len(modes) == 2:
        table["agents_over_gets"] = {
            k: round(table["agents"][k]["median"] / table["gets"][k]["median"], 3)
            for k in ("wall_s", "cpu_s_per_gib", "peak_rss_sum_mib")}
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
