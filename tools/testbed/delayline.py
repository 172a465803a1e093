"""A delay line and random loss for the testbed hosts, built on the kernel's NFQUEUE.

This kernel has no sch_netem, so the testbed cannot ask tc for delay or loss. Instead each host's
namespace sends every IPv4 packet leaving its eth0 to an NFQUEUE (an iptables rule in mangle
POSTROUTING, which runs before the tbf qdisc on that interface). This process holds each packet's
verdict for DELAY_MS, then accepts it; with probability LOSS_PCT it drops the packet at once.
Only metadata crosses to user space (NFQNL_COPY_META), and accepts are batched
(NFQNL_MSG_VERDICT_BATCH accepts every queued id up to the one given), which is exact because the
delay is the same for every packet, so due times follow queue order.

One process serves every host: it enters each host's network namespace with setns(2), opens a
netlink socket there (the socket stays bound to that namespace) and comes back. It runs until
SIGTERM/SIGINT. Python standard library only.
"""
import argparse
import ctypes
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections import deque

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
CLONE_NEWNET = 0x40000000

NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQNL_MSG_VERDICT_BATCH = 3
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_DROP = 0
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NLMSG_DONE = 3
QUEUE_MAXLEN = 65536   # packets held at most per host (enough for 1 Gbit/s x 200 ms at 1500 B)


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(msg: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST) -> bytes:
    """nlmsghdr + nfgenmsg (AF_UNSPEC, version 0, res_id = queue number, big-endian) + attrs."""
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, 0, 0) + body


def check_ack(sock: socket.socket) -> None:
    """Reads the kernel's answer to a request sent with NLM_F_ACK; raises on an error code."""
    data = sock.recv(65536)
    length, kind = struct.unpack_from("=IH", data, 0)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", data, 16)
        if code != 0:
            raise OSError(-code, f"nfqueue config: {os.strerror(-code)}")


def open_queue(queue: int) -> socket.socket:
    """Binds NFQUEUE `queue` in the current network namespace, metadata-only copies."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)   # SO_RCVBUFFORCE: 8 MiB (we are root)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    sock.bind((0, 0))
    bind = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, 0)
    sock.send(message(NFQNL_MSG_CONFIG, queue, attr(NFQA_CFG_CMD, bind), NLM_F_REQUEST | NLM_F_ACK))
    check_ack(sock)
    params = struct.pack(">IB", 0, NFQNL_COPY_META) + b"\0" * 3
    maxlen = struct.pack(">I", QUEUE_MAXLEN)
    sock.send(message(NFQNL_MSG_CONFIG, queue,
                      attr(NFQA_CFG_PARAMS, params[:5]) + attr(NFQA_CFG_QUEUE_MAXLEN, maxlen),
                      NLM_F_REQUEST | NLM_F_ACK))
    check_ack(sock)
    sock.setblocking(False)
    return sock


def enter_netns(path: str) -> None:
    """setns(2) into the network namespace at `path` (a /run/netns file or /proc/self/ns/net)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


class host_queue:
    """One host's queue: the socket and the (due time, packet id) of every packet held."""

    def __init__(self, name: str, sock: socket.socket, queue: int):
        self.name = name
        self.sock = sock
        self.queue = queue
        self.held = deque()
        self.accepted = 0
        self.dropped = 0

    def verdict(self, msg: int, packet_id: int, verdict: int) -> None:
        hdr = struct.pack(">II", verdict, packet_id)
        self.sock.send(message(msg, self.queue, attr(NFQA_VERDICT_HDR, hdr)))

    def drain(self, now: float, delay_s: float, loss: float, rng: random.Random) -> None:
        """Takes every queued packet notice from the socket; drops or schedules each."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    self.on_packet(data[off + 20:off + length], now, delay_s, loss, rng)
                off += (length + 3) & ~3

    def on_packet(self, attrs: bytes, now: float, delay_s: float, loss: float,
                  rng: random.Random) -> None:
        off = 0
        while off + 4 <= len(attrs):
            alen, kind = struct.unpack_from("=HH", attrs, off)
            if alen < 4:
                return
            if (kind & 0x7fff) == NFQA_PACKET_HDR:
                (packet_id,) = struct.unpack_from(">I", attrs, off + 4)
                if loss > 0 and rng.random() < loss:
                    self.verdict(NFQNL_MSG_VERDICT, packet_id, NF_DROP)
                    self.dropped += 1
                else:
                    self.held.append((now + delay_s, packet_id))
                return
            off += (alen + 3) & ~3

    def release(self, now: float) -> None:
        """Accepts, in one batch verdict, every held packet whose time has come."""
        last = None
        while self.held and self.held[0][0] <= now:
            last = self.held.popleft()[1]
            self.accepted += 1
        if last is not None:
            self.verdict(NFQNL_MSG_VERDICT_BATCH, last, NF_ACCEPT)


def realtime_priority() -> None:
    """This process is the network: if it waits for a CPU, every packet of every host waits with
    it (on a loaded machine that showed as swarm-wide dips). SCHED_FIFO priority 10 puts it ahead
    of ordinary processes; it sleeps in epoll between packets and uses a fraction of a core, and
    the kernel's RT throttling still bounds it. Falls back to nice -10, then to nothing."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        try:
            os.nice(-10)
        except OSError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--loss-pct", type=float, default=0.0)
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ready-file", help="created once every queue is bound")
    ap.add_argument("netns", nargs="+", help="network namespace names (under /run/netns)")
    args = ap.parse_args()
    stop = []
    realtime_priority()
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    hosts = []
    try:
        for name in args.netns:
            enter_netns(f"/run/netns/{name}")
            hosts.append(host_queue(name, open_queue(args.queue), args.queue))
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
    if args.ready_file:
        open(args.ready_file, "w").close()

    delay_s = args.delay_ms / 1000.0
    loss = args.loss_pct / 100.0
    rng = random.Random(args.seed)
    by_fd = {h.sock.fileno(): h for h in hosts}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    while not stop:
        now = time.monotonic()
        due = min((h.held[0][0] for h in hosts if h.held), default=now + 0.2)
        for fd, _ in poller.poll(max(0.0, due - now)):
            by_fd[fd].drain(time.monotonic(), delay_s, loss, rng)
        now = time.monotonic()
        for h in hosts:
            h.release(now)
    for h in hosts:
        print(f"delayline {h.name}: accepted {h.accepted} dropped {h.dropped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
