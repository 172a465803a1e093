"""One libtorrent peer for the testbed (run with Debian's /usr/bin/python3 inside a host's netns).

  lt_peer.py seed FILE.torrent SAVE_DIR --listen ADDR:PORT
  lt_peer.py get  FILE.torrent SAVE_DIR --listen ADDR:PORT --complete-file PATH

Announces to the torrent's tracker, seeds (or downloads and then keeps seeding) until SIGTERM or
SIGINT. `get` creates --complete-file (empty) the moment libtorrent reports every piece verified,
as `minibit-peer get --complete-file` does. Settings are libtorrent's defaults except: no DHT,
LSD, UPnP, NAT-PMP (the testbed has only its tracker) and TCP only (no uTP), so that both engines
run over the same transport.
"""
import argparse
import json
import signal
import sys
import time

import libtorrent as lt


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
    while not stop:
        st = handle.status()
        if not done and st.is_seeding:
            done = True
            if args.complete_file:
                open(args.complete_file, "w").close()
        time.sleep(0.02 if not done else 0.2)
    st = handle.status()
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump({"uploaded_bytes": st.all_time_upload,
                       "downloaded_bytes": st.all_time_download,
                       "complete": bool(st.is_seeding)}, f)
    ses.pause()
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main())
