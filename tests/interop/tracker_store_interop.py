"""Two minibit-trackers sharing one swarm through Redis, with libtorrent as the client.

Usage: /usr/bin/python3 tracker_store_interop.py PATH/TO/minibit-tracker
A redis-server runs on a Unix socket in a temp folder; trackers A and B use it as their store.
libtorrent seeds a torrent that names only A; another libtorrent session downloads the same
torrent naming only B: it can find the seeder only through the store. Then a scrape on A shows
both copies. Waits at most 90 s. Skips (77) when libtorrent or redis-server is missing (fails
under CI=true).
"""
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from tracker_interop import free_port, lt_session, wait_for  # noqa: E402

SIZE = 2 * 1024 * 1024 + 777
DEADLINE_S = 90


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


def store_up(port: int) -> bool:
    try:
        return stats(port).get("store", {}).get("state") == "up"
    except OSError:
        return False


def scrape(lt, port: int, info_hash: bytes) -> dict:
    url = f"http://127.0.0.1:{port}/scrape?info_hash={urllib.parse.quote(info_hash, safe='')}"
    with urllib.request.urlopen(url, timeout=5) as r:
        files = lt.bdecode(r.read())[b"files"]
    return files.get(info_hash, {b"complete": 0, b"incomplete": 0})


def torrents(lt, data: str, port_a: int, port_b: int, root: str):
    """One torrent naming tracker A only and the same torrent naming B only."""
    fs = lt.file_storage()
    lt.add_files(fs, data)
    t = lt.create_torrent(fs, 64 * 1024, flags=lt.create_torrent.v1_only)
    t.add_tracker(f"http://127.0.0.1:{port_a}/announce")
    lt.set_piece_hashes(t, os.path.dirname(data))
    entry = t.generate()
    paths = []
    for name, port in (("a", port_a), ("b", port_b)):
        entry[b"announce"] = f"http://127.0.0.1:{port}/announce".encode()
        entry.pop(b"announce-list", None)
        path = os.path.join(root, f"{name}.torrent")
        with open(path, "wb") as f:
            f.write(lt.bencode(entry))
        paths.append(path)
    return paths


def main() -> int:
    tracker = sys.argv[1]
    lt = common.import_libtorrent()
    redis = common.require_program("redis-server")
    root = common.temp_dir()
    sock = os.path.join(root, "redis.sock")
    procs = [subprocess.Popen([redis, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
                               "--save", "", "--appendonly", "no", "--dir", root],
                              stdout=subprocess.DEVNULL)]
    try:
        wait_for("redis-server", lambda: os.path.exists(sock), time.monotonic() + 10)
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(subprocess.Popen(
                [tracker, "--http", f"127.0.0.1:{port}", "--udp", "off", "--threads", "2",
                 "--store", f"unix://{sock}", "--store-flush-ms", "20", "--store-refresh-ms", "100",
                 "--interval", "5", "--min-interval", "1", "--log-level", "warn"]))
        for port in ports:
            wait_for(f"the tracker on {port} and its store", lambda p=port: store_up(p),
                     time.monotonic() + 15)
        seed_dir, leech_dir = os.path.join(root, "seed"), os.path.join(root, "leech")
        data = os.path.join(seed_dir, "payload.bin")
        common.write_random(data, SIZE, seed=14)
        torrent_a, torrent_b = torrents(lt, data, ports[0], ports[1], root)
        info_hash = bytes.fromhex(str(lt.torrent_info(torrent_a).info_hashes().v1))
        deadline = time.monotonic() + DEADLINE_S
        seeder = lt_session(lt, free_port())
        seeder.add_torrent({"ti": lt.torrent_info(torrent_a), "save_path": seed_dir,
                            "flags": lt.torrent_flags.seed_mode})
        wait_for("libtorrent's announce to A to reach B",
                 lambda: scrape(lt, ports[1], info_hash)[b"complete"] >= 1, deadline)
        leecher = lt_session(lt, free_port())
        h = leecher.add_torrent({"ti": lt.torrent_info(torrent_b), "save_path": leech_dir})
        wait_for("libtorrent, announcing to B only, to download from A's seeder",
                 lambda: h.status().is_seeding, deadline)
        assert filecmp.cmp(data, os.path.join(leech_dir, "payload.bin"), shallow=False)
        h.force_reannounce()
        wait_for("a scrape on A to show both copies",
                 lambda: scrape(lt, ports[0], info_hash)[b"complete"] == 2, deadline)
        print("libtorrent announcing to tracker B found the seeder announced to tracker A; "
              "a scrape on A shows both")
        del seeder, leecher
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=10) for p in procs]
        shutil.rmtree(root, ignore_errors=True)
    assert codes[1:] == [0, 0], f"minibit-tracker exit codes on SIGTERM: {codes[1:]}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
