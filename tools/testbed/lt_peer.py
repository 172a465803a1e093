"""One libtorrent peer for the testbed (run with Debian's /usr/bin/python3 inside a host's netns).

  lt_peer.py seed FILE.torrent SAVE_DIR --listen ADDR:PORT
  lt_peer.py get  FILE.torrent SAVE_DIR --listen ADDR:PORT --complete-file PATH

Announces to the torrent's tracker, seeds (or downloads and then keeps seeding) until SIGTERM or
SIGINT. `get` creates --complete-file (empty) the moment libtorrent reports every piece verified,
as `minibit-peer get --complete-file` does; --stats-json is rewritten every 0.5 s. Settings are libtorrent's defaults except: no DHT,
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
    args = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ses = lt.session({
        "listen_interfaces": args.listen,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "alert_mask": 0,
    })
    params = {"ti": lt.torrent_info(args.torrent), "save_path": args.save_dir}
    if args.mode == "seed":
        params["flags"] = lt.torrent_flags.seed_mode
    handle = ses.add_torrent(params)
    done = False
    last_stats = 0.0
    while not stop:
        st = handle.status()
        if not done and st.is_seeding:
            done = True
            if args.complete_file:
                open(args.complete_file, "w").close()
        if time.monotonic() - last_stats >= 0.5:
            write_stats(args.stats_json, handle.status())
            last_stats = time.monotonic()
        time.sleep(0.02)
    write_stats(args.stats_json, handle.status())
    ses.pause()
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main())
