"""One swarm on the testbed: seed a file from h0, start every leecher at once, time each to a
verified copy, check every copy, and report the time against the fluid-model bound, the uplinks'
use, what crossed each zone's link and what the seeder uploaded.
"""
import hashlib
import json
import os
import random
import re
import socket
import statistics
import sys
import time
import urllib.parse

from topology import (SWITCH_ADDR, anon_rss_bytes, busy_cores, busy_jiffies, in_netns, schedstat,
                      sh, tail, testbed, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
TRACKER_PORT = 6969
PEER_PORT = 6881
DEBIAN_PYTHON = "/usr/bin/python3"
SAMPLE_S = 0.5             # timeline.json: every host's sent bytes this often


def bound_seconds(args):
    """Kumar & Ross fluid-model lower bound (no downlink limit) and which term binds: the seeder
    must send one copy, all uplinks together N copies; with zones, every zone without the seeder
    must also pull one copy over its link."""
    bits = args.size * 8
    terms = [(bits / args.seed_uplink, "seeder uplink"),
             (args.hosts * bits / (args.seed_uplink + args.hosts * args.uplink), "total uplink")]
    if args.zones > 1:
        terms.append((bits / args.inter_zone_rate, "inter-zone link"))
    return max(terms)


def make_file(path: str, size: int, seed: int) -> str:
    """Writes `size` pseudo-random bytes (reproducible from `seed`); returns their SHA-256."""
    digest = hashlib.sha256()
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            data = rng.randbytes(min(left, 1 << 20))
            f.write(data)
            digest.update(data)
            left -= len(data)
    return digest.hexdigest()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tracker_seeds(info_hash_hex: str) -> int:
    """The `complete` count the tracker reports for the torrent (scrape, from the core ns)."""
    q = urllib.parse.quote(bytes.fromhex(info_hash_hex), safe="")
    with socket.create_connection((SWITCH_ADDR, TRACKER_PORT), timeout=2) as s:
        s.sendall(f"GET /scrape?info_hash={q} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    m = re.search(rb"8:completei(\d+)e", data)
    return int(m.group(1)) if m else 0


def port_open() -> bool:
    try:
        socket.create_connection((SWITCH_ADDR, TRACKER_PORT), timeout=0.5).close()
        return True
    except OSError:
        return False


def uploaded(stats_path: str) -> int:
    """Payload bytes a peer has uploaded so far, from its --stats-json file (0 if not there)."""
    try:
        with open(stats_path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return 0
    return int(d.get("payload_bytes_up", d.get("uploaded_bytes", 0)))


def ready_file(tb: testbed, k: int) -> str:
    return os.path.join(tb.work, f"h{k}.ready")


def peer_cmd(tb: testbed, role: str, k: int, torrent: str, data_dir: str, done: str) -> list:
    args = tb.args
    listen = tb.addrs[k]
    stats = os.path.join(tb.log_dir, f"h{k}.stats.json")
    if args.engine == "libtorrent":
        cmd = [DEBIAN_PYTHON, os.path.join(HERE, "lt_peer.py"), role, torrent, data_dir,
               "--listen", f"{listen}:{PEER_PORT}", "--stats-json", stats]
        return cmd + (["--complete-file", done, "--ready-file", ready_file(tb, k)]
                      if role == "get" else [])
    peer = os.path.join(args.build, "minibit-peer")
    common = ["--listen", listen, "--port", str(PEER_PORT), "--stats-json", stats,
              "--log", os.path.join(tb.log_dir, f"h{k}.peer.log"), "--log-level", args.log_level,
              *(["--zone-blind"] if args.zone_blind else []),
              *args.peer_flag]
    if role == "seed":
        return [peer, "seed", torrent, data_dir, *common, *args.seed_flag]
    return [peer, "get", torrent, "-o", data_dir, "--seed-for", "100000",
            "--complete-file", done, *common]


def start_seeder(tb: testbed, torrent: str, seed_dir: str, info_hash: str):
    """The tracker in the core namespace, then the seeder on h0, announced before any leecher."""
    tracker = os.path.join(tb.args.build, "minibit-tracker")
    tb.spawn("tracker", tb.core, [tracker, "--http", f"{SWITCH_ADDR}:{TRACKER_PORT}",
                                  "--udp", "off", "--threads", "1", "--interval", "30",
                                  "--min-interval", "5", "--log-level", "warn",
                                  *(["--zone-local-fraction", "0"] if tb.args.zone_blind else []),
                                  *tb.args.tracker_flag])
    wait_until("the tracker", lambda: in_netns(tb.core, port_open), 15)
    seeder = tb.spawn("h0", tb.hosts[0], peer_cmd(tb, "seed", 0, torrent, seed_dir, ""))
    wait_until("the seeder's announce",
               lambda: seeder.poll() is not None or in_netns(tb.core,
                                                             lambda: tracker_seeds(info_hash)) > 0,
               60, 0.1)
    if seeder.poll() is not None:
        raise RuntimeError(f"seeder exited {seeder.returncode}: {tail(tb.log('h0'))}")
    return seeder


def transfer(tb: testbed, torrent: str) -> dict:
    """Starts every leecher, waits for all to complete; returns times, processes and samples."""
    leechers = []
    for k in range(1, tb.args.hosts + 1):
        data_dir = os.path.join(tb.work, f"h{k}")
        os.makedirs(data_dir)
        done = os.path.join(tb.work, f"h{k}.complete")
        # libtorrent's harness waits after its Python start-up (about 0.3 CPU-seconds each);
        # minibit-peer starts in milliseconds, so it is held before exec and its start is timed.
        gate = "stdin" if tb.args.engine == "libtorrent" else "exec"
        p = tb.spawn(f"h{k}", tb.hosts[k], peer_cmd(tb, "get", k, torrent, data_dir, done),
                     gated=gate)
        leechers.append((k, p, done, data_dir))
    if tb.args.engine == "libtorrent":
        def all_ready() -> bool:
            for k, p, _, _ in leechers:
                if p.poll() is not None:
                    raise RuntimeError(f"leecher h{k} exited {p.returncode}: "
                                       f"{tail(tb.log(f'h{k}'))}")
            return all(os.path.exists(ready_file(tb, k)) for k, _, _, _ in leechers)
        wait_until("every libtorrent leecher to start", all_ready, 120, 0.1)
    zone_in0 = tb.zone_in_bytes()
    busy0 = busy_jiffies()
    t0 = time.time()
    tb.open_gate()   # every leecher starts now (exec included in the time), not one by one
    finished = {}
    timeline = []          # (seconds since start, bytes each host has sent)

    def all_done() -> bool:
        now = time.time() - t0
        if not timeline or now - timeline[-1][0] >= SAMPLE_S:
            timeline.append((round(now, 2), tb.uplink_bytes()))
        for k, p, done, _ in leechers:
            if k not in finished and os.path.exists(done):
                finished[k] = os.stat(done).st_mtime_ns / 1e9 - t0
            if k not in finished and p.poll() is not None:
                raise RuntimeError(f"leecher h{k} exited {p.returncode}: {tail(tb.log(f'h{k}'))}")
        return len(finished) == len(leechers)

    try:
        wait_until("every leecher to complete", all_done, tb.args.timeout, 0.1)
    except RuntimeError as e:
        raise RuntimeError(f"{e} ({len(finished)} of {len(leechers)} complete)") from None
    busy = busy_cores(busy0, busy_jiffies())
    timeline.append((round(time.time() - t0, 2), tb.uplink_bytes()))
    zone_in = [b - a for a, b in zip(zone_in0, tb.zone_in_bytes())]
    return {"t0": t0, "leechers": leechers, "finished": finished, "timeline": timeline,
            "zone_in": zone_in, "machine_busy_cores": busy}


def zone_report(tb: testbed, finished: dict, zone_in: list) -> dict:
    """Per zone: leechers' completion (last and median), bytes that entered over its link, and
    cross_zone_copies: the most that entered any one zone, in copies of the file."""
    if tb.zones == 1:
        return {}
    members = [[k for k in finished if tb.zone_of[k] == z] for z in range(tb.zones)]
    return {
        "zones": tb.zones, "inter_zone_bps": tb.args.inter_zone_rate,
        "zone_lists": "blind" if tb.args.zone_blind else "aware",
        "zone_hosts": [len(m) for m in members],
        "zone_seconds": [round(max(finished[k] for k in m), 3) if m else None for m in members],
        "zone_median_seconds": [round(statistics.median(finished[k] for k in m), 3) if m else None
                                for m in members],
        "cross_zone_bytes": zone_in,
        "cross_zone_copies": round(max(zone_in) / tb.args.size, 3),
    }


def verify(tb: testbed, leechers: list, original: str) -> int:
    verified = 0
    for k, _, _, data_dir in leechers:
        path = os.path.join(data_dir, "payload.bin")
        if os.path.exists(path) and sha256_file(path) == original:
            verified += 1
        else:
            print(f"testbed: copy on h{k} differs from the original", file=sys.stderr)
    return verified


def run_swarm(tb: testbed) -> dict:
    args = tb.args
    peer = os.path.join(args.build, "minibit-peer")
    seed_dir = os.path.join(tb.work, "h0")
    os.makedirs(seed_dir)
    original = make_file(os.path.join(seed_dir, "payload.bin"), args.size, args.seed)
    torrent = os.path.join(tb.work, "payload.torrent")
    out = sh(peer, "create", os.path.join(seed_dir, "payload.bin"), "--tracker",
             f"http://{SWITCH_ADDR}:{TRACKER_PORT}/announce", "--piece-size",
             str(args.piece_size), "-o", torrent).stdout
    info_hash = out.strip().splitlines()[-1].split()[-1]
    seeder = start_seeder(tb, torrent, seed_dir, info_hash)

    run = transfer(tb, torrent)
    finished, leechers, timeline = run["finished"], run["leechers"], run["timeline"]
    seconds = max(finished.values())
    sched = [schedstat(p.pid) for _, p, _, _ in leechers] + [schedstat(seeder.pid)]
    rss = [anon_rss_bytes(p.pid) for _, p, _, _ in leechers] + [anon_rss_bytes(seeder.pid)]
    delay_usage = tb.delayline_usage()
    tb.stop_procs()
    with open(os.path.join(tb.log_dir, "timeline.json"), "w") as f:
        json.dump({"t0": run["t0"], "samples": timeline}, f)
    verified = verify(tb, leechers, original)
    bound, binding = bound_seconds(args)
    # Bytes all uplinks sent (frames, as tbf counts them) over the run, against their capacity.
    capacity_bytes = (args.seed_uplink + args.hosts * args.uplink) / 8 * seconds
    sent_bytes = sum(timeline[-1][1]) - sum(timeline[0][1])
    per_host = [round(finished[k], 3) for k in sorted(finished)]
    seed_up = uploaded(os.path.join(tb.log_dir, "h0.stats.json"))
    return {
        "engine": args.engine, "hosts": args.hosts, "uplink_bps": args.uplink,
        "seed_uplink_bps": args.seed_uplink, "rtt_ms": args.rtt_ms, "loss_pct": args.loss,
        "size_bytes": args.size, "piece_size": args.piece_size,
        "seconds": round(seconds, 3), "bound_seconds": round(bound, 3),
        "ratio": round(seconds / bound, 3), "binding": binding,
        "median_host_seconds": round(statistics.median(per_host), 3),
        "host_seconds": per_host, "verified": verified, "ok": verified == args.hosts,
        "origin": "--origin" in args.seed_flag,
        "seed_payload_up_bytes": seed_up,
        "seed_upload_copies": round(seed_up / args.size, 3),
        **zone_report(tb, finished, run["zone_in"]),
        "uplink_use": round(sent_bytes / capacity_bytes, 3),
        # CPU the peers used, and time their threads were runnable but waiting for a CPU (a
        # sign that the shared machine, not the network, held them back).
        "peer_cpu_seconds": round(sum(c for c, _ in sched), 2),
        "peer_runqueue_wait_seconds": round(sum(w for _, w in sched), 2),
        # Anonymous resident memory of the peer processes when the last leecher completed.
        "peer_anon_rss_mib_total": round(sum(rss) / (1 << 20), 1),
        "peer_anon_rss_mib_max": round(max(rss) / (1 << 20), 1),
        # The whole machine's busy cores over the transfer (anyone's work, ours included).
        "machine_busy_cores": run["machine_busy_cores"],
        **delay_usage,
        **tb.delayline_counts(),
        "setup_seconds": tb.setup_seconds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
