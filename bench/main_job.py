#!/usr/bin/python3
"""The main job and the 256 MiB job, two builds side by side, against the process floor.

    bench/main_job.py --build build --base OTHER_BUILD_DIR [--runs 10] [--big FILE --big-runs 5]

Each repetition runs both builds (a folder holding minibit-peer, minibit-tracker and
minibit-loadgen), alternating which goes first: the floor (`minibit-loadgen floor`, 11 x
`minibit-peer --version`, the build's own binaries), then the main job (`minibit-loadgen swarm`
with its defaults: 10 peers, 1 MiB scatter) with --json. With --big, each repetition then runs
`swarm --file FILE --peers 10 --piece-size 262144 --mode seed` per build, and waits (bounded)
for any background removal of the previous run's folders before the next. Prints medians,
(min-max) and ratios as one JSON object: the job's wall (the driver's, tracker start to the last
process reaped and the folders gone from their place; `process` adds the loadgen's own start),
its transfer (every peer started to the last completion), wall / floor and wall / transfer.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def floor_seconds(d: str, work: str) -> float:
    out = subprocess.run([os.path.join(d, "minibit-loadgen"), "floor", "--processes", "11",
                          "--program", os.path.join(d, "minibit-peer"), "--arg=--version",
                          "--repeat", "1", "--logs", os.path.join(work, "floor"), "--json"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)["median_seconds"]


def wait_removed(out_dir: str, limit: float = 120.0) -> float:
    start = time.monotonic()
    while glob.glob(os.path.join(out_dir, ".minibit-removing-*")):
        if time.monotonic() - start > limit:
            break
        time.sleep(0.05)
    return time.monotonic() - start


def swarm(d: str, work: str, extra: list) -> dict:
    out_dir = os.path.join(work, "out")
    wait_removed(out_dir)
    t = time.monotonic()
    r = subprocess.run([os.path.join(d, "minibit-loadgen"), "swarm", "--out", out_dir,
                        "--logs", os.path.join(work, "logs"), "--log-level", "warn", "--json",
                        *extra], capture_output=True, text=True, timeout=600)
    process = time.monotonic() - t
    j = json.loads(r.stdout.strip().splitlines()[-1])
    if r.returncode != 0 or not j["success"]:
        sys.exit(f"{d}: swarm failed: {j.get('failure')} {r.stderr[-2000:]}")
    ph = j["phases"]
    transfer = ph["all_complete"] - ph["peers_started"]
    return {"wall": j["wall_seconds"], "process": process, "transfer": transfer,
            "wall_per_transfer": j["wall_seconds"] / transfer, "phases": ph}


def summary(xs):
    return {"median": round(statistics.median(xs), 4), "min": round(min(xs), 4),
            "max": round(max(xs), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--base", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--big", help="the 256 MiB file for the bulk job (skipped when absent)")
    ap.add_argument("--big-runs", type=int, default=5)
    a = ap.parse_args()
    builds = {"base": a.base, "build": a.build}
    res = {k: {"floor": [], "main": [], "big": []} for k in builds}
    with tempfile.TemporaryDirectory(prefix="minibit-main-job-") as work:
        original = os.path.join(work, "original.txt")
        for i in range(a.runs):
            order = list(builds) if i % 2 == 0 else list(reversed(builds))
            for k in order:
                w = os.path.join(work, k)
                res[k]["floor"].append(floor_seconds(builds[k], w))
                res[k]["main"].append(swarm(builds[k], w, ["--file", original]))
        for i in range(a.big_runs if a.big else 0):
            order = list(builds) if i % 2 == 0 else list(reversed(builds))
            for k in order:
                res[k]["big"].append(swarm(builds[k], os.path.join(work, k + "-big"),
                                           ["--file", a.big, "--peers", "10", "--piece-size",
                                            "262144", "--mode", "seed", "--timeout", "300"]))
        for k in builds:
            wait_removed(os.path.join(work, k + "-big", "out"))
            wait_removed(os.path.join(work, k, "out"))
    report = {}
    for k, r in res.items():
        m = r["main"]
        walls = [x["wall"] for x in m]
        rep = {}
        if m:
            rep = {"floor_s": summary(r["floor"]), "main_wall_s": summary(walls),
                   "main_process_s": summary([x["process"] for x in m]),
                   "main_transfer_s": summary([x["transfer"] for x in m]),
                   "main_wall_per_floor": summary([w / f for w, f in zip(walls, r["floor"])]),
                   "main_last_phases": m[-1]["phases"]}
        if r["big"]:
            rep["big_wall_s"] = summary([x["wall"] for x in r["big"]])
            rep["big_transfer_s"] = summary([x["transfer"] for x in r["big"]])
            rep["big_wall_per_transfer"] = summary([x["wall_per_transfer"] for x in r["big"]])
            rep["big_last_phases"] = r["big"][-1]["phases"]
        report[k] = rep
    b, n = report["base"], report["build"]
    report["ratio_build_over_base"] = {
        key: round(n[key]["median"] / b[key]["median"], 3)
        for key in n if key in b and isinstance(n[key], dict) and "median" in n[key]}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
