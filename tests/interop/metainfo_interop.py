#!/usr/bin/python3
"""Our .torrent files load in libtorrent and transmission-show with the same info hash, and
mktorrent's torrents (single and multi-file, several piece sizes) parse in MiniBit with the info
hash libtorrent computes; `info --json` names every file where libtorrent puts it (a multi-file
torrent's below its name: album/sub/b.bin).

usage: metainfo_interop.py PATH/TO/minibit-peer
"""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

peer = sys.argv[1]
lt = common.import_libtorrent()
transmission_show = common.require_program("transmission-show")
mktorrent = common.require_program("mktorrent")

work = common.temp_dir()
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def lt_hash(torrent):
    return str(lt.torrent_info(torrent).info_hashes().v1)


def transmission_hash(torrent):
    out = common.run([transmission_show, torrent]).stdout
    m = re.search(r"Hash:\s*([0-9a-f]{40})", out)
    return m.group(1) if m else None


def minibit_info_hash(torrent):
    out = common.run([peer, "info", torrent]).stdout
    m = re.search(r"^info_hash: ([0-9a-f]{40})$", out, re.M)
    return m.group(1) if m else None


def minibit_files(torrent):
    out = common.run([peer, "info", "--json", torrent]).stdout
    return [(f["path"], f["length"]) for f in json.loads(out)["files"]]


def lt_files(torrent):
    fs = lt.torrent_info(torrent).files()
    return [(fs.file_path(i), fs.file_size(i)) for i in range(fs.num_files())]


try:
    # Sources: one file whose size is not a multiple of any piece size, and a nested folder.
    single = os.path.join(work, "data", "single.bin")
    common.write_random(single, 3 * 1024 * 1024 + 12345, seed=1)
    folder = os.path.join(work, "data", "album")
    common.write_random(os.path.join(folder, "a.bin"), 700_001, seed=2)
    common.write_random(os.path.join(folder, "sub", "b.bin"), 65_536, seed=3)
    common.write_random(os.path.join(folder, "sub", "deeper", "c.bin"), 1_234_567, seed=4)
    open(os.path.join(folder, "sub", "empty.txt"), "wb").close()

    # 1. minibit-peer create -> libtorrent and transmission-show agree on the info hash.
    for src, extra in [(single, ["--piece-size", "32768"]), (single, ["--pieces", "100"]),
                       (folder, ["--piece-size", "65536"]), (folder, [])]:
        out_t = os.path.join(work, f"ours-{len(failures)}-{os.path.basename(src)}-{'-'.join(extra)}.torrent")
        res = common.run([peer, "create", src, "--tracker", "http://127.0.0.1:6969/announce",
                          "--tracker", "udp://127.0.0.1:6969", *extra, "-o", out_t])
        ours = res.stdout.strip().splitlines()[-1]
        label = f"create {os.path.basename(src)} {' '.join(extra) or '(auto piece size)'}"
        check(re.fullmatch(r"[0-9a-f]{40}", ours) is not None, f"{label}: last line is the info hash")
        check(lt_hash(out_t) == ours, f"{label}: libtorrent computes {ours}")
        check(transmission_hash(out_t) == ours, f"{label}: transmission-show shows {ours}")
        ti = lt.torrent_info(out_t)
        check(ti.total_size() == (os.path.getsize(src) if os.path.isfile(src) else
                                  sum(os.path.getsize(os.path.join(d, f))
                                      for d, _, fs in os.walk(src) for f in fs)),
              f"{label}: libtorrent sees the same total size")
        # Where each file goes, relative to the download folder: album/<path> (BEP 3).
        check(minibit_files(out_t) == lt_files(out_t), f"{label}: libtorrent lays files out alike")

    # 2. mktorrent's torrents parse in MiniBit with libtorrent's info hash.
    for src in (single, folder):
        for log2 in (15, 16, 18, 20):
            out_t = os.path.join(work, f"mk-{os.path.basename(src)}-{log2}.torrent")
            common.run([mktorrent, "-l", str(log2), "-a", "http://127.0.0.1:6969/announce",
                        "-o", out_t, src])
            label = f"mktorrent {os.path.basename(src)} -l {log2}"
            check(minibit_info_hash(out_t) == lt_hash(out_t), f"{label}: same info hash as libtorrent")
            check(minibit_files(out_t) == lt_files(out_t), f"{label}: same file paths as libtorrent")
finally:
    shutil.rmtree(work, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("all metainfo interop checks passed")
