#!/usr/bin/python3
"""One agent holding many idle seeding torrents: memory per torrent, idle CPU, API latency.

    bench/agent_idle.py [--build build] [--torrents 1000] [--idle-seconds 10] [--requests 200]
                        [--threads N] [--compare OLD_BUILD_DIR] [--compare-threads A,B]

Creates N small files (64 KiB, 4 pieces of 16 KiB, distinct bytes) with `minibit-peer create`,
starts a `minibit-tracker` and a `minibit-peer agent` on 127.0.0.1, adds every torrent through
the API (JSON form) and waits until all are seeding. Then measures, from /proc of the agent:
resident memory before the first add and after the last (per torrent; anonymous memory apart
from mapped file pages, which are the page cache of the seeded data), CPU while idle over
--idle-seconds (percent of one core), and the latency of GET /v1/torrents and of one
GET /v1/torrents/{hash} (p50, p99, max over --requests calls on fresh connections, as the CLI
verbs make them). Prints one JSON object. Bounded: every wait has a deadline; the processes it
started are stopped by PID.

With --compare OLD_BUILD_DIR a second agent from that folder's minibit-peer holds the same
torrents at the same time, and the timed requests alternate between the two agents in rounds of
10, so both are measured side by side under the same machine load ("old" and "new" in the
output; memory and idle CPU are measured one agent at a time). --compare-threads A,B does the
same with two agents of --build, one with --threads A and one with --threads B ("threads_A" and
"threads_B" in the output).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from agent_api import call, free_port


def api(sock_path, method, path, body=None):
    return call(sock_path, method, path, body, timeout=10)


def rss_kib(pid):
    """Resident KiB of the process: anonymous (heap, stacks) and file-backed (mapped data)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile"):
                out[key] = int(line.split()[1])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    sys.exit(f"agent_idle: timed out waiting for {what}")


def timed_samples(sock_path, path, n):
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        status, _ = api(sock_path, "GET", path)
        samples.append((time.perf_counter() - start) * 1000)
        if status != 200:
            sys.exit(f"agent_idle: GET {path} answered {status}")
    return samples


def summary(samples):
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(percentile(samples, 99), 3), "max_ms": round(max(samples), 3)}


def timed_gets(sock_path, path, n):
    return summary(timed_samples(sock_path, path, n))


def interleaved_gets(socks, path, n):
    """GET `path` n times on every agent of `socks` (name -> socket), alternating in rounds."""
    samples = {name: [] for name in socks}
    for _ in range(0, n, 10):
        for name, sock in socks.items():
            samples[name] += timed_samples(sock, path, 10)
    return {name: summary(s) for name, s in samples.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--torrents", type=int, default=1000)
    ap.add_argument("--idle-seconds", type=float, default=10)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0,
                    help="the agent's --threads (0: its default)")
    ap.add_argument("--compare", default="",
                    help="build folder of an older minibit-peer to measure side by side")
    ap.add_argument("--compare-threads", default="",
                    help="A,B: two agents of --build side by side with --threads A and B")
    ap.add_argument("--agent-prefix", default="",
                    help="command run before the agent, e.g. 'heaptrack -o /tmp/agent'")
    args = ap.parse_args()
    peer = os.path.abspath(os.path.join(args.build, "minibit-peer"))
    tracker_bin = os.path.abspath(os.path.join(args.build, "minibit-tracker"))
    procs = []
    with tempfile.TemporaryDirectory(prefix="minibit-agent-idle-") as tmp:
        downloads = os.path.join(tmp, "downloads")
        os.makedirs(downloads)
        port = free_port()
        procs.append(subprocess.Popen(
            [tracker_bin, "--http", f"127.0.0.1:{port}", "--udp", "off", "--threads", "1",
             "--log-level", "warn"]))
        try:
            torrents = []
            start = time.monotonic()
            for i in range(args.torrents):
                data = os.path.join(downloads, f"item{i:05d}.bin")
                with open(data, "wb") as f:
                    f.write(os.urandom(64 * 1024))
                out = os.path.join(downloads, f"item{i:05d}.torrent")
                subprocess.run([peer, "create", data, "--tracker",
                                f"http://127.0.0.1:{port}/announce", "--piece-size", "16384",
                                "-o", out], check=True, stdout=subprocess.DEVNULL)
                torrents.append(out)
            create_s = time.monotonic() - start
            agents = {"new": (peer, args.threads)}
            if args.compare:
                agents = {"old": (os.path.abspath(os.path.join(args.compare, "minibit-peer")), 0),
                          "new": (peer, args.threads)}
            if args.compare_threads:
                agents = {f"threads_{n}": (peer, int(n))
                          for n in args.compare_threads.split(",")}
            socks, pids, adds, rss_before = {}, {}, {}, {}
            for name, (binary, threads) in agents.items():
                sock_path = os.path.join(tmp, f"{name}.sock")
                cmd = args.agent_prefix.split() + [
                    binary, "agent", "--state-dir", os.path.join(tmp, f"state-{name}"),
                    "--download-dir", downloads, "--socket", sock_path, "--listen",
                    f"127.0.0.1:{free_port()}", "--hashing-threads", "1"]
                if threads:
                    cmd += ["--threads", str(threads)]
                agent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                procs.append(agent)
                wait_for(lambda: os.path.exists(sock_path), 10, "the agent's socket")
                time.sleep(0.5)
                rss_before[name] = rss_kib(agent.pid)
                start = time.monotonic()
                for path in torrents:
                    status, body = api(sock_path, "POST", "/v1/torrents",
                                       {"torrent_path": path, "data_dir": downloads})
                    if status != 201:
                        sys.exit(f"agent_idle: add {path}: {status} {body[:200]!r}")
                adds[name] = time.monotonic() - start
                socks[name], pids[name] = sock_path, agent.pid

            def all_seeding(sock_path):
                _, body = api(sock_path, "GET", "/v1/torrents")
                items = json.loads(body)["torrents"]
                return len(items) == args.torrents and all(t["state"] == "seeding"
                                                           for t in items)
            start = time.monotonic()
            for name, sock_path in socks.items():
                wait_for(lambda: all_seeding(sock_path), 120, f"every torrent of {name} to seed")
            seeding_s = time.monotonic() - start
            time.sleep(2)  # let the first announces settle
            per_agent = {}
            for name, pid in pids.items():
                rss_after = rss_kib(pid)
                cpu0, t0 = cpu_seconds(pid), time.monotonic()
                time.sleep(args.idle_seconds)
                idle_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
                per_agent[name] = {
                    "add_s": round(adds[name], 2),
                    "rss_anon_before_kib": rss_before[name]["RssAnon"],
                    "rss_anon_after_kib": rss_after["RssAnon"],
                    "rss_anon_per_torrent_kib": round(
                        (rss_after["RssAnon"] - rss_before[name]["RssAnon"]) / args.torrents, 2),
                    "rss_file_per_torrent_kib": round(
                        (rss_after["RssFile"] - rss_before[name]["RssFile"]) / args.torrents, 2),
                    "idle_cpu_percent": round(idle_cpu, 3),
                }
            _, body = api(next(iter(socks.values())), "GET", "/v1/torrents")
            one = json.loads(body)["torrents"][0]["info_hash"]
            all_gets = interleaved_gets(socks, "/v1/torrents", args.requests)
            one_gets = interleaved_gets(socks, f"/v1/torrents/{one}", args.requests * 2)
            for name in socks:
                per_agent[name]["get_all"] = all_gets[name]
                per_agent[name]["get_one"] = one_gets[name]
            report = {"torrents": args.torrents, "create_s": round(create_s, 1),
                      "all_seeding_s": round(seeding_s, 2)}
            if len(per_agent) == 1:
                report.update(per_agent["new"])
            else:
                report.update(per_agent)
            print(json.dumps(report, indent=1))
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
