#!/usr/bin/python3
"""CPU of starting our programs, two builds side by side.

    bench/start_cpu.py --build build --base OTHER_BUILD_DIR [--runs 15]

For each build (a folder holding minibit-peer, minibit-tracker and minibit-loadgen), interleaved
run by run: `minibit-peer --version` (`help` for builds older than --version); a `minibit-tracker --threads 2` on 127.0.0.1 (HTTP and UDP)
started, waited for until it accepts, and stopped with SIGTERM; and the main job,
`minibit-loadgen swarm` with its defaults (10 peers, 1 MiB), whose figure counts the whole tree
(loadgen, tracker, peers). Each figure is user + system CPU of the reaped children in ms; prints
medians, (min-max) and the ratio build / base as one JSON object. Bounded: every wait has a
deadline; the processes it started are stopped by PID.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def children_cpu_ms() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_version(d: str, work: str) -> None:
    peer = os.path.join(d, "minibit-peer")
    r = subprocess.run([peer, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=10)
    if r.returncode == 2:  # a build from before --version: its `help` is the same kind of run
        subprocess.run([peer, "help"], stdout=subprocess.DEVNULL, check=True, timeout=10)


def tracker_start(d: str, work: str) -> None:
    port = free_port()
    at = f"127.0.0.1:{port}"
    p = subprocess.Popen([os.path.join(d, "minibit-tracker"), "--http", at, "--udp", at,
                          "--threads", "2", "--log-level", "warn"])
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and p.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.005)
    finally:
        p.terminate()
        p.wait(timeout=10)


def swarm(d: str, work: str) -> None:
    subprocess.run([os.path.join(d, "minibit-loadgen"), "swarm", "--file",
                    os.path.join(work, "original.txt"), "--out", os.path.join(work, "out"),
                    "--logs", os.path.join(work, "logs"), "--log-level", "warn"],
                   stdout=subprocess.DEVNULL, check=True, timeout=120)


def summary(xs):
    return {"median_ms": round(statistics.median(xs), 1), "min_ms": round(min(xs), 1),
            "max_ms": round(max(xs), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--base", required=True)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    cases = {"peer --version": peer_version, "tracker start+stop": tracker_start,
             "loadgen swarm (tree)": swarm}
    out = {}
    with tempfile.TemporaryDirectory(prefix="minibit-start-cpu-") as work:
        for name, fn in cases.items():
            runs = {"build": [], "base": []}
            n = a.runs if fn is not swarm else max(3, a.runs // 3)
            for _ in range(n):
                for which, d in (("base", a.base), ("build", a.build)):
                    before = children_cpu_ms()
                    fn(d, work)
                    runs[which].append(children_cpu_ms() - before)
            out[name] = {"base": summary(runs["base"]), "build": summary(runs["build"]),
                         "ratio": round(statistics.median(runs["build"]) /
                                        max(statistics.median(runs["base"]), 1e-9), 2)}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
