"""Multi-file torrents laid out as BEP 3 says, both ways between minibit-peer and libtorrent.

Usage: /usr/bin/python3 multifile_interop.py MINIBIT_PEER
A torrent of the folder `album` (three files, one in a subfolder, one empty) made by libtorrent
(v1 only, no pad files):
  info:     `minibit-peer info --json` names every file where libtorrent puts it: album/<path>;
  lt_seed:  libtorrent seeds it from DIR/album/; `minibit-peer get -o GOT` (no tracker, --peer)
            puts every file at GOT/album/<path> (SHA-256 checked) and nothing else into GOT but
            its hidden resume file;
  lt_leech: `minibit-peer seed TORRENT GOT/album` (the top folder itself; GOT works as well)
            serves that copy and a libtorrent session downloads it into LT/album/<path>.
Every wait is bounded (DEADLINE_S per case); every process the test started is ended by PID on
every exit path; ports from the kernel; only 127.0.0.1. Takes about 3 s. Skips (77) when
libtorrent is missing (fails under CI=true).
"""
import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import peer_clients as pc  # noqa: E402

DEADLINE_S = 60
# Relative to the top folder; sizes not multiples of the piece size, so pieces span files.
FILES = {"a.bin": 700_001, os.path.join("sub", "b.bin"): 65_536 * 3 + 7,
         os.path.join("sub", "empty.txt"): 0, "z.bin": 300_000}


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def same_tree(got_top: str, original_top: str, who: str) -> None:
    """Every file of FILES at got_top/<path> with the original's bytes."""
    for rel in FILES:
        got = os.path.join(got_top, rel)
        assert os.path.isfile(got), f"{who}: {got} is missing"
        assert sha256(got) == sha256(os.path.join(original_top, rel)), f"{who}: {got} differs"


class fixture:
    def __init__(self, peer: str, lt, root: str):
        self.peer, self.lt, self.root = peer, lt, root
        self.procs = pc.procs()
        self.logs = []
        self.source = os.path.join(root, "source")      # holds album/
        self.top = os.path.join(self.source, "album")
        for i, (rel, size) in enumerate(FILES.items()):
            path = os.path.join(self.top, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            common.write_random(path, size, seed=20 + i) if size else open(path, "wb").close()
        self.torrent = os.path.join(root, "album.torrent")
        fs = lt.file_storage()
        lt.add_files(fs, self.top)
        ct = lt.create_torrent(fs, 65536, lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, self.source)
        with open(self.torrent, "wb") as f:
            f.write(lt.bencode(ct.generate()))
        self.ti = lt.torrent_info(self.torrent)

    def log(self, name: str) -> str:
        path = os.path.join(self.root, f"{name}.log")
        self.logs.append(path)
        return path


def case_info(fx: fixture, _deadline: float) -> None:
    """minibit-peer names each file where libtorrent's file_storage puts it."""
    ours = json.loads(common.run([fx.peer, "info", "--json", fx.torrent]).stdout)
    files = fx.ti.files()
    theirs = [(files.file_path(i), files.file_size(i)) for i in range(files.num_files())]
    got = [(f["path"], f["length"]) for f in ours["files"]]
    assert got == theirs, f"minibit-peer info: {got}, libtorrent: {theirs}"
    assert all(p.startswith("album" + os.sep) for p, _ in got), got


def case_lt_seed(fx: fixture, deadline: float) -> None:
    """minibit-peer get from a libtorrent seed: the files land in GOT/album/."""
    ses = pc.lt_session(fx.lt)
    h = ses.add_torrent({"ti": fx.ti, "save_path": fx.source})
    pc.wait_for("libtorrent to check its copy and seed", lambda: h.status().is_seeding, deadline)
    got = os.path.join(fx.root, "got")
    cmd = pc.minibit_cmd(fx.peer, "get", fx.torrent, got, fx.log("get"), pc.left(deadline) - 5)
    cmd += ["--no-tracker", "--peer", f"127.0.0.1:{ses.listen_port()}"]
    proc = fx.procs.start("minibit-peer get", cmd, fx.log("get-out"))
    rc = proc.wait(timeout=pc.left(deadline))
    del h, ses
    assert rc == 0, f"minibit-peer get exited {rc}"
    same_tree(os.path.join(got, "album"), fx.top, "minibit-peer get (from libtorrent)")
    extra = sorted(set(os.listdir(got)) - {"album", ".album.minibit-resume"})
    assert not extra, f"minibit-peer get put {extra} into {got} beside album/"


def case_lt_leech(fx: fixture, deadline: float) -> None:
    """libtorrent downloads from `minibit-peer seed` given the top folder itself."""
    got_top = os.path.join(fx.root, "got", "album")
    assert os.path.isdir(got_top), "lt_seed left no copy to serve"
    port = pc.free_port()
    cmd = [fx.peer, "seed", fx.torrent, got_top, "--no-tracker", "--listen", "127.0.0.1",
           "--port", str(port), "--log", fx.log("seed"), "--log-level", "debug"]
    seeder = fx.procs.start("minibit-peer seed", cmd, fx.log("seed-out"))
    pc.wait_for("minibit-peer seed to listen",
                lambda: seeder.poll() is None and "on port" in pc.tail(fx.log("seed-out")),
                deadline)
    ses = pc.lt_session(fx.lt)
    leech_dir = os.path.join(fx.root, "lt")
    h = ses.add_torrent({"ti": fx.ti, "save_path": leech_dir})
    h.connect_peer(("127.0.0.1", port))
    pc.wait_for("libtorrent to finish from minibit-peer", lambda: h.status().is_seeding, deadline)
    del h, ses
    same_tree(os.path.join(leech_dir, "album"), fx.top, "libtorrent (from minibit-peer)")
    rc = fx.procs.stop(seeder)
    assert rc == 0, f"minibit-peer seed exited {rc} on SIGTERM"


CASES = {"info": case_info, "lt_seed": case_lt_seed, "lt_leech": case_lt_leech}


def on_sigterm(signum, _frame):
    # meson's timeout sends SIGTERM: unwind through every `finally`, which ends our processes.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    peer = sys.argv[1]
    lt = common.import_libtorrent()
    root = common.temp_dir()
    failed = []
    fx = None
    try:
        fx = fixture(peer, lt, root)
        failed = pc.run_cases(CASES, fx, DEADLINE_S, after_each=fx.procs.stop_all)
    finally:
        if fx is not None:
            fx.procs.stop_all()
        pc.clean_up(root, failed, fx.logs if fx is not None else ())
    return pc.verdict(failed)


if __name__ == "__main__":
    sys.exit(main())
