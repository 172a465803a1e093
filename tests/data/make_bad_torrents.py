#!/usr/bin/env python3
"""Writes the small .torrent files of tests/data/good/ and tests/data/bad/.

Run by hand from anywhere (python3 tests/data/make_bad_torrents.py); the output is committed.
Each bad file breaks exactly one rule; the script prints, for each, the error code and the byte
offset metainfo_test.cpp expects (the offset of the offending value, found with a marker).
"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def enc(v):
    """Bencodes v; a dict is encoded with sorted keys, a list of pairs (tagged) in given order."""
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(enc(k) + enc(v[k]) for k in sorted(v, key=lambda k: k.encode() if isinstance(k, str) else k)) + b"e"
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, Pairs):
        return b"d" + b"".join(enc(k) + enc(x) for k, x in v.items) + b"e"
    raise TypeError(v)


class Raw:
    def __init__(self, data):
        self.data = data


class Pairs:
    """A dict in exactly this key order (may be unsorted or hold duplicates)."""
    def __init__(self, *items):
        self.items = items


def data_bytes(n, seed):
    return bytes((i * 31 + seed) % 251 for i in range(n))


PIECE = 16384


def pieces_of(blob, plen=PIECE):
    return b"".join(hashlib.sha1(blob[i:i + plen]).digest() for i in range(0, len(blob), plen))


SINGLE_DATA = data_bytes(40000, 7)  # 3 pieces, the last one short
MULTI_FILES = [(["x", "a.txt"], data_bytes(10, 1)), (["empty"], b""), (["y.bin"], data_bytes(20000, 2))]


def single_info(**over):
    info = {"name": "a.bin", "length": len(SINGLE_DATA), "piece length": PIECE,
            "pieces": pieces_of(SINGLE_DATA)}
    info.update(over)
    return {k: v for k, v in info.items() if v is not None}


def multi_info(files=None, **over):
    blob = b"".join(d for _, d in MULTI_FILES)
    if files is None:
        files = [{"length": len(d), "path": p} for p, d in MULTI_FILES]
    info = {"name": "folder", "files": files, "piece length": PIECE, "pieces": pieces_of(blob)}
    info.update(over)
    return {k: v for k, v in info.items() if v is not None}


def torrent(info, **extra):
    t = {"announce": "http://127.0.0.1:6969/announce", "info": info}
    t.update(extra)
    return enc(t)


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def main():
    good_single = torrent(single_info(), **{"comment": "single", "created by": "hand",
                                             "creation date": 1700000000})
    good_multi = torrent(multi_info(**{"private": 1}), **{
        "announce-list": [["http://127.0.0.1:6969/announce"], ["udp://127.0.0.1:6969", "http://127.0.0.1:7000/a"]]})
    # The outer dict holds unknown keys, one unsorted: the info hash must still be of the raw bytes.
    unsorted_outer = enc(Pairs(("zzz unknown", {"nested": [1, 2]}), ("info", Raw(enc(single_info()))),
                               ("announce", "http://127.0.0.1:6969/announce")))
    write("good", "single.torrent", good_single)
    write("good", "multi.torrent", good_multi)
    write("good", "unknown_keys_unsorted.torrent", unsorted_outer)
    print("info hashes: single %s multi %s" % (
        hashlib.sha1(enc(single_info())).hexdigest(), hashlib.sha1(enc(multi_info(private=1))).hexdigest()))

    big = 1 << 62
    bad = [
        # name, bytes, expected errc, where: an offset, a unique marker, or (marker, after, delta)
        ("truncated.torrent", good_single[:-5], "bad_bencode", len(good_single) - 5),
        ("nesting_bomb.torrent", b"d4:info" + b"l" * 5000, "bad_bencode", 7 + 63),
        ("huge_string_length.torrent", b"d4:info1000000000000000:xe", "bad_bencode", 7),
        ("trailing_garbage.torrent", good_single + b"junk", "bad_bencode", len(good_single)),
        ("duplicate_info_key.torrent", enc(Pairs(("info", single_info()), ("info", single_info()))),
         "bad_bencode", 7 + len(enc(single_info()))),
        ("length_over_int64.torrent", torrent(single_info(length=Raw(b"i18446744073709551616e"))),
         "bad_bencode", (b"i18446744073709551616e", None, 20)),
        ("not_a_dict.torrent", b"l4:infoe", "wrong_type", 0),
        ("missing_info.torrent", enc({"announce": "http://127.0.0.1:6969/announce"}), "missing_field", 0),
        ("info_not_dict.torrent", torrent("oops"), "wrong_type", b"4:oops"),
        ("missing_name.torrent", torrent(single_info(name=None)), "missing_field", b"d6:length"),
        ("missing_pieces.torrent", torrent(single_info(pieces=None)), "missing_field", b"d6:length"),
        ("missing_length_and_files.torrent", torrent(single_info(length=None)), "missing_field", b"d4:name"),
        ("both_length_and_files.torrent", torrent(multi_info(length=5)), "bad_value", b"d5:files"),
        ("pieces_not_string.torrent", torrent(single_info(pieces=5)), "wrong_type", b"i5e"),
        ("wrong_piece_count.torrent", torrent(single_info(pieces=pieces_of(SINGLE_DATA)[:40])),
         "piece_count_mismatch", b"40:"),
        ("pieces_not_multiple_of_20.torrent", torrent(single_info(pieces=pieces_of(SINGLE_DATA)[:59])),
         "bad_value", b"59:"),
        ("piece_length_zero.torrent", torrent(single_info(**{"piece length": 0})), "bad_value", b"i0e"),
        ("piece_length_negative.torrent", torrent(single_info(**{"piece length": -16384})), "bad_value",
         b"i-16384e"),
        ("piece_length_too_large.torrent", torrent(single_info(**{"piece length": 1 << 30, "pieces": b"\0" * 20})),
         "bad_value", b"i1073741824e"),
        ("negative_length.torrent", torrent(single_info(length=-1)), "bad_value", b"i-1e"),
        ("negative_file_length.torrent", torrent(multi_info(files=[{"length": 10, "path": ["a"]},
                                                                   {"length": -5, "path": ["b"]}])),
         "bad_value", b"i-5e"),
        ("overflowing_sizes.torrent", torrent(multi_info(files=[{"length": big, "path": ["a"]},
                                                                {"length": 1, "path": ["b"]}])),
         "bad_value", b"d6:lengthi1e"),
        ("single_length_too_large.torrent", torrent(single_info(length=big + 1)), "bad_value",
         b"i%de" % (big + 1)),
        ("zero_total_length.torrent", torrent(single_info(length=0, pieces=b"")), "bad_value", b"d6:length"),
        ("path_traversal.torrent", torrent(multi_info(files=[{"length": 20010, "path": ["..", "etc", "passwd"]}])),
         "bad_path", b"2:.."),
        ("absolute_path.torrent", torrent(multi_info(files=[{"length": 20010, "path": ["/etc", "passwd"]}])),
         "bad_path", b"4:/etc"),
        ("empty_path_component.torrent", torrent(multi_info(files=[{"length": 20010, "path": ["a", "", "b"]}])),
         "bad_path", (b"0:", b"4:info", 0)),
        ("dot_path_component.torrent", torrent(multi_info(files=[{"length": 20010, "path": ["a", ".", "b"]}])),
         "bad_path", b"1:."),
        ("empty_path_list.torrent", torrent(multi_info(files=[{"length": 20010, "path": []}])),
         "bad_path", (b"le", b"4:path", 0)),
        ("duplicate_paths.torrent", torrent(multi_info(files=[{"length": 10, "path": ["x", "a"]},
                                                              {"length": 20000, "path": ["x", "a"]}])),
         "bad_path", b"d6:lengthi20000e"),
        ("file_is_also_folder.torrent", torrent(multi_info(files=[{"length": 10, "path": ["x"]},
                                                                  {"length": 20000, "path": ["x", "a"]}])),
         "bad_path", b"d6:lengthi20000e"),
        ("name_dot_dot.torrent", torrent(single_info(name="..")), "bad_path", b"2:.."),
        ("name_with_slash.torrent", torrent(single_info(name="a/b")), "bad_path", b"3:a/b"),
        ("name_empty.torrent", torrent(single_info(name="")), "bad_path", (b"0:", b"4:info", 0)),
        # Multi-file: the name is the top folder, so it must be one safe path component too.
        ("multi_name_dot_dot.torrent", torrent(multi_info(name="..")), "bad_path", b"2:.."),
        ("multi_name_dot.torrent", torrent(multi_info(name=".")), "bad_path", b"1:."),
        ("multi_name_root.torrent", torrent(multi_info(name="/")), "bad_path", b"1:/"),
        ("multi_name_empty.torrent", torrent(multi_info(name="")), "bad_path", (b"0:", b"4:info", 0)),
        ("multi_name_nul.torrent", torrent(multi_info(name="a\0b")), "bad_path", b"3:a\0b"),
        ("path_component_with_slash.torrent", torrent(multi_info(files=[{"length": 20010, "path": ["a/../../b"]}])),
         "bad_path", b"9:a/../../b"),
        ("announce_not_string.torrent", torrent(single_info(), announce=7), "wrong_type", b"i7e"),
        ("announce_list_tier_not_list.torrent", torrent(single_info(), **{"announce-list": ["http://x"]}),
         "wrong_type", b"8:http://x"),
    ]
    seen = set()
    for entry in bad:
        name, data, code, where = entry
        assert name not in seen
        seen.add(name)
        if isinstance(where, bytes):
            assert data.count(where) == 1, name  # the marker must be unambiguous
            where = data.index(where)
        elif isinstance(where, tuple):
            marker, after, delta = where
            where = data.index(marker, data.index(after) if after else 0) + delta
        write("bad", name, data)
        print('    {"%s", metainfo_errc::%s, %d},' % (name, code, where))


if __name__ == "__main__":
    main()
