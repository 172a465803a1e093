"""`run --check-shaping`: does the testbed deliver the rates and delays it was configured with,
with every link loaded at once?

iperf3 flows in a ring (host i sends to host i+1, the last one to h0), all started together, load
every uplink and every downlink with one full-rate TCP flow through the delay line; each flow's
goodput and TCP RTT are compared with its path (its uplink, or the zone link when it crosses
zones). The delay line reports how late it released packets against each one's arrival (the
kernel's receive timestamp) plus the delay, and whether the kernel dropped any for it. Before the
flows, UDP probes from every host to the core namespace (through the idle uplinks, so without a
queue) check the one-way delay end to end; they read the clock in this Python process, so they run only while
the machine is idle (under load they would time the runner's own waits for a CPU).
"""
import json
import os
import select
import socket
import statistics
import struct
import threading
import time

from topology import SWITCH_ADDR, busy_jiffies, busy_cores, in_netns, testbed, wait_until

IPERF_PORT = 5201
PROBE_PORT = 5299
PROBE_INTERVAL_S = 0.1
TCP_PAYLOAD_PER_FRAME = 1448 / 1514   # what TCP delivers of the frames tbf counts


def listening(port: int) -> bool:
    """True when a TCP socket listens on `port` in the calling thread's network namespace."""
    with open("/proc/thread-self/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class delay_probe:
    """UDP probes from every host to the core, each carrying its send time."""

    def __init__(self, tb: testbed):
        self.tb = tb
        self.receiver = in_netns(tb.core, lambda: self.bind(SWITCH_ADDR))
        self.senders = [in_netns(h, lambda a=a: self.bind(a)) for h, a in zip(tb.hosts, tb.addrs)]
        self.delays_ms = []
        self.sent = 0
        self.rounds = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    @staticmethod
    def bind(addr: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, PROBE_PORT))
        s.setblocking(False)
        return s

    def loop(self) -> None:
        next_send = time.monotonic()
        drain_until = None   # after stop: receive what is still in the delay line
        while drain_until is None or time.monotonic() < drain_until:
            if drain_until is None and self.stop.is_set():
                drain_until = time.monotonic() + self.tb.args.rtt_ms / 2000 + 0.2
                next_send = float("inf")
            if time.monotonic() >= next_send:
                self.rounds += 1
                for s in self.senders:
                    s.sendto(struct.pack("=q", time.time_ns()), (SWITCH_ADDR, PROBE_PORT))
                    self.sent += 1
                next_send += PROBE_INTERVAL_S
            wake = min(next_send, drain_until or next_send, time.monotonic() + 0.05)
            ready, _, _ = select.select([self.receiver], [], [],
                                        max(0.0, wake - time.monotonic()))
            if ready:
                self.take(self.receiver)

    def take(self, s: socket.socket) -> None:
        while True:
            try:
                data = s.recv(64)
            except BlockingIOError:
                return
            if len(data) == 8 and self.rounds > 1:   # the first round waits for ARP
                self.delays_ms.append((time.time_ns() - struct.unpack("=q", data)[0]) / 1e6)

    def result(self, prefix: str) -> dict:
        d = self.delays_ms
        if not d:
            return {f"{prefix}_probes": self.sent - len(self.tb.addrs), f"{prefix}_received": 0}
        return {f"{prefix}_probes": self.sent - len(self.tb.addrs), f"{prefix}_received": len(d),
                f"{prefix}_one_way_ms_min": round(min(d), 3),
                f"{prefix}_one_way_ms_median": round(statistics.median(d), 3),
                f"{prefix}_one_way_ms_p99": round(percentile(d, 0.99), 3),
                f"{prefix}_one_way_ms_max": round(max(d), 3)}

    def run_for(self, seconds: float) -> None:
        self.thread.start()
        time.sleep(seconds)
        self.finish()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.senders + [self.receiver]:
            s.close()


def flow_result(tb: testbed, k: int, to: int) -> dict:
    """One iperf3 flow's figures against what its path is configured to carry."""
    with open(tb.log(f"iperf3-c{k}")) as f:
        res = json.load(f)
    if "error" in res:
        raise RuntimeError(f"iperf3 h{k} -> h{to}: {res['error']}")
    rate = tb.args.seed_uplink if k == 0 else tb.args.uplink
    if tb.zone_of[k] != tb.zone_of[to]:
        rate = min(rate, tb.args.inter_zone_rate)
    got = res["end"]["sum_received"]["bits_per_second"]
    sender = res["end"]["streams"][0]["sender"]
    return {"from": k, "to": to, "configured_bps": rate, "goodput_bps": round(got),
            "goodput_ratio": round(got / rate, 3),
            "tcp_min_rtt_ms": round(sender.get("min_rtt", 0) / 1000, 2),
            "tcp_mean_rtt_ms": round(sender.get("mean_rtt", 0) / 1000, 2),
            "retransmits": res["end"]["sum_sent"].get("retransmits", 0)}


def start_flows(tb: testbed, n: int) -> list:
    args = tb.args
    for k in range(n):
        tb.spawn(f"iperf3-s{k}", tb.hosts[k],
                 ["iperf3", "-s", "-1", "-B", tb.addrs[k], "-p", str(IPERF_PORT)])
    for k in range(n):
        wait_until(f"iperf3 on h{k}",
                   lambda k=k: in_netns(tb.hosts[k], lambda: listening(IPERF_PORT)), 15)
    return [tb.spawn(f"iperf3-c{k}", tb.hosts[k],
                     ["iperf3", "-c", tb.addrs[(k + 1) % n], "-p", str(IPERF_PORT), "-t",
                      str(args.iperf_seconds), "-O", str(args.iperf_omit), "-J"], gated="exec")
            for k in range(n)]


def check_shaping(tb: testbed) -> dict:
    """The flows and the probes (idle first, then under load); see the module comment."""
    args = tb.args
    n = len(tb.hosts) if args.check_hosts == 0 else min(args.check_hosts, len(tb.hosts))
    probe = delay_probe(tb)
    probe.run_for(args.probe_seconds)
    clients = start_flows(tb, n)
    before, busy0, t0 = tb.delayline_usage(), busy_jiffies(), time.monotonic()
    tb.open_gate()
    for p in clients:
        p.wait(timeout=args.iperf_seconds + args.iperf_omit + 60)
    after, busy1, elapsed = tb.delayline_usage(), busy_jiffies(), time.monotonic() - t0
    tb.stop_procs()
    flows = [flow_result(tb, k, (k + 1) % n) for k in range(n)]
    ratios = [f["goodput_ratio"] for f in flows]
    rtts = [f["tcp_min_rtt_ms"] for f in flows]
    means = [f["tcp_mean_rtt_ms"] for f in flows]
    dl_cpu = after.get("delayline_cpu_seconds", 0) - before.get("delayline_cpu_seconds", 0)
    return {
        "check": "shaping", "hosts": args.hosts, "flows": n, "zones": tb.zones,
        "uplink_bps": args.uplink, "seed_uplink_bps": args.seed_uplink,
        "inter_zone_bps": args.inter_zone_rate if tb.zones > 1 else None,
        "rtt_configured_ms": args.rtt_ms, "loss_pct": args.loss,
        "seconds": args.iperf_seconds, "omitted_seconds": args.iperf_omit,
        "tcp_payload_ceiling_ratio": round(TCP_PAYLOAD_PER_FRAME, 3),
        "goodput_ratio_min": min(ratios), "goodput_ratio_median": statistics.median(ratios),
        "goodput_ratio_max": max(ratios),
        "tcp_min_rtt_ms_median": statistics.median(rtts), "tcp_min_rtt_ms_max": max(rtts),
        "tcp_mean_rtt_ms_median": statistics.median(means), "tcp_mean_rtt_ms_max": max(means),
        "retransmits": sum(f["retransmits"] for f in flows),
        "one_way_configured_ms": args.rtt_ms / 2,
        **probe.result("idle"),
        "flows_wall_seconds": round(elapsed, 2),
        "delayline_cpu_cores": round(dl_cpu / elapsed, 3),
        "delayline_runqueue_wait_seconds": round(
            after.get("delayline_runqueue_wait_seconds", 0)
            - before.get("delayline_runqueue_wait_seconds", 0), 3),
        "delayline_user_seconds": round(after.get("delayline_user_seconds", 0)
                                        - before.get("delayline_user_seconds", 0), 2),
        "delayline_system_seconds": round(after.get("delayline_system_seconds", 0)
                                          - before.get("delayline_system_seconds", 0), 2),
        "setup_seconds": tb.setup_seconds,
        "machine_busy_cores": busy_cores(busy0, busy1),
        **tb.delayline_counts(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "per_flow": flows,
    }
