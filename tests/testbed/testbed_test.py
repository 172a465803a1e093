"""The network-namespace testbed (tools/testbed/run), two cases:

  swarm_wan  ten hosts (a seeder and 9 leechers), 100 Mbit/s uplinks, 20 ms RTT and 1% loss
             each way. Every leecher ends with a copy identical to the original; the run reports
             its time against the fluid bound, the seeder's upload in copies of the file, and the
             delay line lost about 1% of the packets it handled.
  hosts30    thirty leechers (and the seeder) at 20 Mbit/s, 10 ms RTT, a 1 MiB file: the set-up
             that a hundred hosts use (batched namespaces and links, a delay line thread per
             CPU over balanced queues) in a few seconds. Every copy verified, the delay line
             carried the traffic, and the set-up time is reported.
  zones      two zones of two leechers (the seeder in zone 0) behind a 20 Mbit/s zone link, hosts
             at 100 Mbit/s. Every copy verified; the bound is the zone link's (one copy must cross
             it); the zone without the seeder pulled at least one copy over its link, measured on
             the link itself; each zone has its completion time.

Both check that the run leaves no namespace or folder behind. Skips (77) only where namespaces
cannot be made (not root, no iproute2/iptables, no delay line built) and CI is not "true"; under
CI=true that is a failure, since ./run.sh test installs what the testbed needs.
"""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
CASES = {
    "swarm_wan": ["--hosts", "9", "--uplink", "100mbit", "--rtt", "20ms", "--loss", "1",
                  "--size", "16MiB"],
    "hosts30": ["--hosts", "30", "--uplink", "20mbit", "--rtt", "10ms", "--size", "1MiB"],
    "zones": ["--hosts", "4", "--zones", "2", "--uplink", "100mbit", "--inter-zone-rate",
              "20mbit", "--rtt", "20ms", "--size", "4MiB"],
}


class failure(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise failure(msg)


def check_common(result: dict, hosts: int) -> None:
    check(result["verified"] == hosts and result["ok"],
          f"{result['verified']} of {hosts} copies match the original")
    check(result["bound_seconds"] > 0 and result["seconds"] >= result["bound_seconds"] * 0.9,
          "time and bound are inconsistent (faster than the fluid bound allows)")
    # Both are rounded to milliseconds: 1% of the ratio covers that for bounds above 0.1 s.
    check(abs(result["ratio"] - result["seconds"] / result["bound_seconds"])
          <= 0.01 * max(1.0, result["ratio"]), "ratio is not seconds / bound_seconds")
    # Every piece leaves the seeder at least once; its upload is counted in payload bytes.
    check(result["seed_upload_copies"] >= 1.0,
          f"seed_upload_copies {result['seed_upload_copies']} is below one copy")
    check(abs(result["seed_upload_copies"] - result["seed_payload_up_bytes"] /
              result["size_bytes"]) <= 0.01, "seed_upload_copies is not upload / file size")


def check_swarm_wan(result: dict) -> None:
    check_common(result, 9)
    lost = result["delayline_loss_drops"] / max(1, result["delayline_packets"])
    check(0.003 <= lost <= 0.03, f"the delay line lost {lost:.4f} of its packets, not about 1%")


def check_hosts30(result: dict) -> None:
    check_common(result, 30)
    check(result["delayline_threads"] >= 1 and result["delayline_packets"] > 0,
          f"the delay line reports {result['delayline_threads']} threads and "
          f"{result['delayline_packets']} packets")
    check(result["setup_seconds"] is not None and result["setup_seconds"] > 0,
          "setup_seconds is missing")


def check_zones(result: dict) -> None:
    check_common(result, 4)
    check(result["zones"] == 2 and result["zone_hosts"] == [2, 2],
          f"zones {result.get('zones')} hosts {result.get('zone_hosts')}, not 2 zones of 2")
    check(result["binding"] == "inter-zone link", f"binding is {result['binding']}")
    check(len(result["zone_seconds"]) == 2 and all(t > 0 for t in result["zone_seconds"]),
          f"zone_seconds {result['zone_seconds']}")
    check(max(result["zone_seconds"]) == result["seconds"], "the last zone is not the run's end")
    # Zone 1 has no seeder: the whole file crossed its link at least once (frames count a bit
    # more than payload), and no more than once per leecher there plus overheads.
    copies_in = result["cross_zone_bytes"][1] / result["size_bytes"]
    check(1.0 <= copies_in <= 2 * 1.2, f"{copies_in:.3f} copies entered zone 1")
    check(result["cross_zone_copies"] >= round(copies_in, 3) - 0.001,
          "cross_zone_copies is not the most that entered any zone")


def main() -> int:
    case, tool, peer_exe = sys.argv[1], sys.argv[2], sys.argv[3]
    build = os.path.dirname(os.path.abspath(peer_exe))
    cmd = [tool, *CASES[case], "--timeout", "90", "--build", build, "--json"]
    print("running:", " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        p.terminate()   # the tool removes its namespaces on SIGTERM
        out, err = p.communicate(timeout=30)
        print(f"FAIL: the testbed did not finish in 150 s\n{err}", file=sys.stderr)
        return 1
    sys.stderr.write(err)
    if p.returncode == SKIP:
        if os.environ.get("CI") == "true":
            print("FAIL: the testbed is unavailable under CI=true", file=sys.stderr)
            return 1
        print("SKIP: network namespaces unavailable here")
        return SKIP
    try:
        check(p.returncode == 0, f"the testbed exited {p.returncode}")
        result = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(result))
        {"swarm_wan": check_swarm_wan, "hosts30": check_hosts30,
         "zones": check_zones}[case](result)
        tag = f"mbt-{p.pid}-"
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        check(tag not in names, f"namespaces {tag}* left behind:\n{names}")
        check(not any(e.startswith(tag) for e in os.listdir(tempfile.gettempdir())),
              f"folder {tag}* left behind in {tempfile.gettempdir()}")
    except failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print(f"OK: {case}: {result['verified']} verified copies in {result['seconds']} s "
          f"(bound {result['bound_seconds']} s, ratio {result['ratio']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
