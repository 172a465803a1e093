"""tools/testbed/daemons on a small job: 3 hosts (one seeding), 2 torrents of 1 MiB, one daemon
per host, MiniBit agents and then transmission-daemon in the same run. Every copy of both is
verified, both report a completion time and the CPU their daemons used, and nothing (namespace,
folder) is left behind. Skips (77) where namespaces cannot be made or transmission-daemon is
missing, unless CI is "true": then that is a failure (./run.sh test installs both).

Usage: python3 daemons_test.py TOOLS/TESTBED/DAEMONS MINIBIT_PEER
"""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
HOSTS, TORRENTS = 3, 2


def check_merge(tool, rows) -> list:
    """`--merge` of the run's lines written to two files, as two invocations would have left
    them: one summary per engine (runs, medians equal to the single values) and the ratio."""
    if len(rows) != 2:
        return []
    with tempfile.TemporaryDirectory() as d:
        names = []
        for i, r in enumerate(rows):
            names.append(os.path.join(d, f"run{i}.jsonl"))
            with open(names[-1], "w") as f:
                f.write("a line that is not JSON\n" + json.dumps(r) + "\n")
        p = subprocess.run([tool, "--merge", *names, "--json"], capture_output=True, text=True,
                           timeout=30)
    if p.returncode != 0:
        return [f"--merge exited {p.returncode}: {p.stderr}"]
    out = [json.loads(line) for line in p.stdout.splitlines()]
    by_engine = {o["engine"]: o for o in out if "engine" in o}
    failures = []
    for r in rows:
        s = by_engine.get(r["engine"], {})
        if s.get("runs") != 1 or s.get("seconds", {}).get("median") != r["seconds"]:
            failures.append(f"--merge summary of {r['engine']}: {s}")
    ratio = [o for o in out if "ratio" in o]
    want = rows[0]["seconds"] / rows[1]["seconds"]
    if len(ratio) != 1 or abs(ratio[0]["seconds"] - want) > 0.001:
        failures.append(f"--merge ratio {ratio}, want seconds {want:.3f}")
    return failures


def main() -> int:
    tool, peer_exe = sys.argv[1], sys.argv[2]
    build = os.path.dirname(os.path.abspath(peer_exe))
    cmd = [tool, "--hosts", str(HOSTS), "--torrents", str(TORRENTS), "--size", "1MiB",
           "--uplink", "100mbit", "--timeout", "60", "--build", build, "--json"]
    print("running:", " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=170)
    except subprocess.TimeoutExpired:
        p.terminate()   # the tool removes its namespaces on SIGTERM
        out, err = p.communicate(timeout=30)
        print(f"FAIL: the comparison did not finish in 170 s\n{err}", file=sys.stderr)
        return 1
    sys.stderr.write(err)
    if p.returncode == SKIP:
        if os.environ.get("CI") == "true":
            print("FAIL: the testbed or transmission-daemon is unavailable under CI=true",
                  file=sys.stderr)
            return 1
        print("SKIP: network namespaces or transmission-daemon unavailable here")
        return SKIP
    failures = []
    if p.returncode != 0:
        failures.append(f"the tool exited {p.returncode}")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print("\n".join(json.dumps(r) for r in rows))
    engines = sorted(r["engine"] for r in rows)
    if engines != ["agent", "transmission"]:
        failures.append(f"runs of {engines}, not one of each engine")
    for r in rows:
        copies = (HOSTS - 1) * TORRENTS
        if not r["ok"] or r["verified"] != copies:
            failures.append(f"{r['engine']}: {r['verified']} of {copies} copies verified")
        if not r["seconds"] > 0 or not r["median_host_seconds"] <= r["seconds"]:
            failures.append(f"{r['engine']}: times {r['median_host_seconds']} / {r['seconds']}")
        if not r["cpu_seconds"] > 0 or r["origin_cpu_seconds"] > r["cpu_seconds"]:
            failures.append(f"{r['engine']}: CPU {r['cpu_seconds']}, origin "
                            f"{r['origin_cpu_seconds']}")
    failures += check_merge(tool, rows)
    tag = f"mbt-{p.pid}-"
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    if tag in names:
        failures.append(f"namespaces {tag}* left behind")
    if any(e.startswith(tag) for e in os.listdir(tempfile.gettempdir())):
        failures.append(f"folder {tag}* left behind")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
