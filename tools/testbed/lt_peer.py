"""One libtorrent peer for the testbed (run with Debian's /usr/bin/python3 inside a host's netns).

  lt_peer.py seed FILE.torrent SAVE_DIR --listen ADDR:PORT
  lt_peer.py get  FILE.torrent SAVE_DIR --listen ADDR:PORT --complete-file PATH
             [--ready-file PATH]   (then waits for end of file on stdin before it starts)

Announces to the torrent's tracker, seeds (or downloads and then keeps seeding) until SIGTERM or
SIGINT. `get` creates --complete-file (empty) the moment libtorrent reports every piece verified
(its torrent_finished_alert: the process sleeps in wait_for_alert rather than polling, so a hundred
of them cost little), as `minibit-peer get --complete-file` does; --stats-json is rewritten every
0.5 s. With --ready-file it creates that file once Python, libtorrent and the session are up
and then waits for end of file on stdin before adding the torrent, so that the testbed can start a
hundred of them without timing a hundred Python start-ups on two cores. Settings are libtorrent's
defaults except: no DHT,
LSD, UPnP, NAT-PMP (the testbed has only its tracker) and TCP only (no uTP), so that both engines
run over the same transport.
"""
import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt


def write_stats(path, st) -> None:
    """Payload counters as JSON, replaced atomically (the testbed samples them while running)."""
    if not path:
        return
    with open(path + ".part", "w") as f:
        json.dump({"payload_bytes_up": st.total_payload_upload,
                   "payload_bytes_down": st.total_payload_download,
                   "complete": bool(st.is_seeding)}, f)
    os.replace(path + ".part", path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seed", "get"])
    ap.add_argument("torrent")
    ap.add_argument("save_dir")
    ap.add_argument("--listen", required=True, help="ADDR:PORT")
    ap.add_argument("--complete-file")
    ap.add_argument("--stats-json")
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ses = lt.session({
        "listen_interfaces": args.listen,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "alert_mask": lt.alert_category.status,
    })
    params = {"ti": lt.torrent_info(args.torrent), "save_path": args.save_dir}
    if args.mode == "seed":
        params["flags"] = lt.torrent_flags.seed_mode
    if args.ready_file:
        open(args.ready_file, "w").close()
        sys.stdin.read()   # the testbed closes the other end when every peer is ready
        if stop:
            return 0
    handle = ses.add_torrent(params)
    done = False
    last_stats = 0.0
    while not stop:
        ses.wait_for_alert(500)
        finished = any(isinstance(a, lt.torrent_finished_alert) for a in ses.pop_alerts())
        if not done and (finished or handle.status().is_seeding):
            done = True
            if args.complete_file:
                open(args.complete_file, "w").close()
        if time.monotonic() - last_stats >= 0.5:
            write_stats(args.stats_json, handle.status())
            last_stats = time.monotonic()
    write_stats(args.stats_json, handle.status())
    ses.pause()
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main())
