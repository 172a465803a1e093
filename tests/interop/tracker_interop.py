"""minibit-tracker with real clients: libtorrent and aria2c announce to it and complete transfers.

Usage: /usr/bin/python3 tracker_interop.py PATH/TO/minibit-tracker
Case 1 (HTTP): libtorrent seeds, aria2c leeches; both announce to http://127.0.0.1:P/announce.
Case 2 (UDP):  aria2c seeds, libtorrent leeches; both announce to udp://127.0.0.1:P.
Each waits at most 90 s. Skips (77) when aria2c or libtorrent is missing (fails under CI=true).
"""
import filecmp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SIZE = 3 * 1024 * 1024 + 12345
DEADLINE_S = 90


def free_port() -> int:
    """A port free for both TCP and UDP right now (the tracker binds it a moment later)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise AssertionError("no free port")


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


def scrape_complete(lt, port: int, info_hash_hex: str) -> int:
    """Seeders of one torrent, from minibit-tracker's HTTP scrape (BEP 48)."""
    raw = bytes.fromhex(info_hash_hex)
    url = f"http://127.0.0.1:{port}/scrape?info_hash={urllib.parse.quote(raw, safe='')}"
    with urllib.request.urlopen(url, timeout=5) as r:
        files = lt.bdecode(r.read())[b"files"]
    return files.get(raw, {b"complete": 0})[b"complete"]


def wait_for(what: str, pred, deadline: float) -> None:
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def make_torrent(lt, data: str, announce: str, out: str) -> None:
    fs = lt.file_storage()
    lt.add_files(fs, data)
    t = lt.create_torrent(fs, 64 * 1024, flags=lt.create_torrent.v1_only)
    t.add_tracker(announce)
    lt.set_piece_hashes(t, os.path.dirname(data))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))


def lt_session(lt, port: int):
    return lt.session({
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": 0,
    })


def aria2(aria, torrent: str, folder: str, port: int, seed: bool, udp: bool) -> subprocess.Popen:
    # aria2 speaks UDP tracker only with DHT on (same socket); no bootstrap node, so no traffic out.
    dht = [f"--enable-dht={'true' if udp else 'false'}", "--enable-dht6=false"]
    if udp:
        dht += [f"--dht-listen-port={free_port()}",
                f"--dht-file-path={os.path.join(folder, 'dht.dat')}"]
    cmd = [aria, f"--dir={folder}", f"--listen-port={port}", *dht,
           "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--console-log-level=warn",
           "--summary-interval=0", "--bt-tracker-connect-timeout=5", "--bt-tracker-timeout=5"]
    # --seed-ratio=0.0: aria2's default ratio 1.0 stops a seeder once it has uploaded one copy,
    # which a leecher re-requesting a few blocks reaches before it completes (seen at 99.5%).
    cmd += ["--check-integrity=true", "--bt-seed-unverified=true", "--seed-time=5",
            "--seed-ratio=0.0"] if seed \
        else ["--seed-time=0"]
    return subprocess.Popen(cmd + [torrent], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def http_case(lt, aria, tracker_port: int, root: str) -> None:
    seed_dir, leech_dir = os.path.join(root, "h-seed"), os.path.join(root, "h-leech")
    data = os.path.join(seed_dir, "payload.bin")
    common.write_random(data, SIZE, seed=1)
    torrent = os.path.join(root, "http.torrent")
    make_torrent(lt, data, f"http://127.0.0.1:{tracker_port}/announce", torrent)
    deadline = time.monotonic() + DEADLINE_S
    ses = lt_session(lt, free_port())
    ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": seed_dir,
                     "flags": lt.torrent_flags.seed_mode})
    wait_for("libtorrent's HTTP announce", lambda: stats(tracker_port)["seeders"] >= 1, deadline)
    leech = aria2(aria, torrent, leech_dir, free_port(), seed=False, udp=False)
    try:
        leech.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if leech.poll() is None:
            leech.kill()
    assert leech.returncode == 0, f"aria2c exited {leech.returncode}: {leech.stderr.read()!r}"
    assert filecmp.cmp(data, os.path.join(leech_dir, "payload.bin"), shallow=False)
    del ses


def udp_case(lt, aria, tracker_port: int, root: str) -> None:
    seed_dir, leech_dir = os.path.join(root, "u-seed"), os.path.join(root, "u-leech")
    data = os.path.join(seed_dir, "payload.bin")
    common.write_random(data, SIZE, seed=2)
    torrent = os.path.join(root, "udp.torrent")
    make_torrent(lt, data, f"udp://127.0.0.1:{tracker_port}", torrent)
    deadline = time.monotonic() + DEADLINE_S
    before = stats(tracker_port)["requests"]["udp"]["announce"]["total"]
    info_hash = str(lt.torrent_info(torrent).info_hashes().v1)
    seed = aria2(aria, torrent, seed_dir, free_port(), seed=True, udp=True)
    try:
        wait_for("aria2c's UDP announce",
                 lambda: stats(tracker_port)["requests"]["udp"]["announce"]["total"] > before, deadline)
        # aria2 announces before its integrity check ends; a leecher that dials it then is
        # turned away and backs off for long. Start libtorrent once aria2 announces as a seeder.
        wait_for("aria2c to announce as a seeder",
                 lambda: scrape_complete(lt, tracker_port, info_hash) >= 1, deadline)
        ses = lt_session(lt, free_port())
        h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": leech_dir})
        try:
            wait_for("libtorrent to finish over UDP-tracker peers",
                     lambda: h.status().is_seeding, deadline)
        except AssertionError:
            st = h.status()
            print(f"libtorrent: state={st.state} peers={st.num_peers} seeds={st.num_seeds} "
                  f"progress={st.progress:.3f} trackers={[(t['url'], t.get('message'), t.get('fails')) for t in h.trackers()]} "
                  f"peers_list={[(p.ip, p.flags) for p in h.get_peer_info()]} aria2_alive={seed.poll() is None} "
                  f"stats={stats(tracker_port)}", file=sys.stderr)
            raise
        assert filecmp.cmp(data, os.path.join(leech_dir, "payload.bin"), shallow=False)
        del ses
    finally:
        seed.kill()
        seed.wait(timeout=10)


def main() -> int:
    tracker = sys.argv[1]
    lt = common.import_libtorrent()
    aria = common.require_program("aria2c")
    root = common.temp_dir()
    port = free_port()
    proc = subprocess.Popen([tracker, "--http", f"127.0.0.1:{port}", "--udp", f"127.0.0.1:{port}",
                             "--threads", "2", "--interval", "5", "--min-interval", "1",
                             "--log-level", "warn"])
    try:
        wait_for("the tracker", lambda: _up(port), time.monotonic() + 10)
        http_case(lt, aria, port, root)
        print("HTTP: libtorrent seeded, aria2c leeched through minibit-tracker")
        udp_case(lt, aria, port, root)
        print("UDP: aria2c seeded, libtorrent leeched through minibit-tracker")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    assert rc == 0, f"minibit-tracker exited {rc} on SIGTERM"
    return 0


def _up(port: int) -> bool:
    try:
        stats(port)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
