#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/seed-*.

Seeds are small valid inputs built here from the protocol specs (BEP 3, 6, 10, 15, 23, 48), so
the fuzzer starts inside each parser's accepting paths. Regression inputs (crash-*, regress-*)
live beside them and are never touched. Run again after changing it; output is deterministic.
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(benc(k) + benc(x) for k, x in items) + b"e"
    raise TypeError(v)


def write(target, seeds):
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for i, data in enumerate(seeds):
        (folder / ("seed-%02d" % i)).write_bytes(data)


def torrents():
    single = {"name": "a.bin", "length": 40000, "piece length": 16384, "pieces": b"\x11" * 60}
    multi = {"name": "dir", "piece length": 32768, "pieces": b"\x22" * 20,
             "files": [{"length": 30000, "path": ["x", "y.txt"]}, {"length": 5, "path": ["z"]}]}
    return [
        benc({"announce": "http://127.0.0.1:6969/announce", "info": single}),
        benc({"announce": "udp://127.0.0.1:6969", "announce-list": [["http://a/announce"], ["udp://b:1"]],
              "comment": "c", "created by": "MiniBit", "creation date": 1700000000, "info": multi}),
        benc({"info": dict(single, private=1)}),
        benc({"info": {"name": "e", "length": 1, "piece length": 16384, "pieces": b"\x33" * 20}}),
    ]


def bencode_seeds():
    return [b"i0e", b"i-42e", b"0:", b"4:spam", b"le", b"de", b"li1e3:abce",
            benc({"a": 1, "b": [b"x", {"c": b""}]}), b"d1:bi1e1:ai2ee", torrents()[0]]


def msg(mid, payload=b""):
    return struct.pack(">IB", len(payload) + 1, mid) + payload


def peer_wire_seeds():
    hs = bytes([19]) + b"BitTorrent protocol" + bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04]) + b"\xab" * 20 + b"-MB0001-123456789012"
    session = (msg(5, b"\xff\xc0") + msg(2) + msg(1) + msg(6, struct.pack(">III", 0, 0, 16384))
               + msg(7, struct.pack(">II", 9, 0) + b"\x5a" * 1000) + msg(4, struct.pack(">I", 3))
               + struct.pack(">I", 0) + msg(8, struct.pack(">III", 1, 16384, 16384)) + msg(9, b"\x1a\xe1")
               + msg(0) + msg(3))
    fast = (msg(0x0e) + msg(0x0f) + msg(0x0d, struct.pack(">I", 2)) + msg(0x11, struct.pack(">I", 4))
            + msg(0x10, struct.pack(">III", 2, 0, 16384)))
    ext = msg(20, b"\x00" + benc({"m": {"ut_metadata": 1}, "v": "MiniBit"})) + msg(20, b"\x01" + benc({"msg_type": 0, "piece": 0}))
    # byte 0: bounds 0 (10 pieces, 32 KiB, last 1000), bit 2 = start with messages; bytes 1..4: chunk sizes.
    return [bytes([0, 255, 255, 255, 255]) + hs + session, bytes([0, 0, 6, 1, 200]) + hs + session + fast + ext,
            bytes([4, 7, 3, 255, 11]) + session, bytes([5, 255, 255, 255, 255]) + msg(7, struct.pack(">II", 0, 0) + b"\x01" * 16384),
            bytes([6, 255, 255, 255, 255]) + msg(5, b"\xff" * 4 + b"\xf8"), bytes([4, 1, 1, 1, 1]) + fast + ext]


HASH = "%aa" * 20


def tracker_http_seeds():
    ann = "info_hash=" + HASH + "&peer_id=-MB0001-123456789012&port=6881&uploaded=0&downloaded=0&left=100&compact=1&event=started"
    return [s.encode() for s in [
        "/announce?" + ann, "/announce?" + ann + "&numwant=500&ip=10.0.0.1&key=abc",
        "/announce?info_hash=" + HASH + "&peer_id=BBBBBBBBBBBBBBBBBBBB&port=1&left=0&compact=0&event=stopped",
        "/scrape?info_hash=" + HASH + "&info_hash=" + "%bb" * 20, "/scrape", "/stats", "/metrics",
        ann, "GET /announce?" + ann + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET /scrape HTTP/1.0\r\n\r\n",
    ]]


def tracker_udp_seeds():
    ih, pid = b"\xaa" * 20, b"-MB0001-123456789012"
    conn = struct.pack(">QII", 0x41727101980, 0, 0x1234)
    ann = struct.pack(">QII", 0, 1, 7) + ih + pid + struct.pack(">QQQIIIiH", 0, 100, 0, 2, 0, 9, -1, 6881)
    scrape = struct.pack(">QII", 0, 2, 8) + ih + b"\xbb" * 20
    return [conn, ann, ann + b"\x02\x05/ann", scrape,
            struct.pack(">IIQ", 0, 0x1234, 99), struct.pack(">IIIII", 1, 7, 1800, 1, 2) + bytes([127, 0, 0, 1, 0x1a, 0xe1]),
            struct.pack(">IIIII", 1, 7, 1800, 0, 1) + b"\x00" * 15 + b"\x01\x1a\xe1",
            struct.pack(">II", 2, 8) + struct.pack(">III", 1, 2, 3), struct.pack(">II", 3, 9) + b"bad"]


def client_response_seeds():
    ok = benc({"interval": 1800, "min interval": 60, "complete": 1, "incomplete": 2,
               "peers": bytes([127, 0, 0, 1, 0x1a, 0xe1]), "peers6": b"\x00" * 15 + b"\x01\x1a\xe1"})
    dicts = benc({"interval": 900, "peers": [{"ip": "127.0.0.1", "port": 6881, "peer id": b"x" * 20}],
                  "warning message": "w"})
    fail = benc({"failure reason": "unregistered torrent"})
    scrape = benc({"files": {b"\xaa" * 20: {"complete": 1, "downloaded": 2, "incomplete": 3}}})
    http = lambda b: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(ok), ok)
    return [ok, dicts, fail, scrape, http(ok), http(scrape), chunked,
            b"HTTP/1.0 404 Not Found\r\n\r\n", b"http://127.0.0.1:6969/announce?x=1", b"udp://[::1]:6969/announce"]


def http_head_seeds():
    get = b"GET /announce?info_hash=%aa&port=1 HTTP/1.1\r\nHost: 127.0.0.1:6969\r\nUser-Agent: t\r\n\r\n"
    post = b"POST /v1/torrents HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    chunked_req = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n0\r\nX: y\r\n\r\n"
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabcGET"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    return [get, get + get, post, chunked_req, ok, chunked,
            b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nd1:ai1ee", b"HTTP/1.1 204 No Content\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"4\r\nWiki\r\n0\r\n\r\n"]


def main():
    write("bencode", bencode_seeds())
    write("metainfo", torrents())
    write("peer_wire", peer_wire_seeds())
    write("http_head", http_head_seeds())
    write("tracker_http", tracker_http_seeds())
    write("tracker_udp", tracker_udp_seeds())
    write("tracker_client_response", client_response_seeds())


if __name__ == "__main__":
    main()
