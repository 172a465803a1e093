#!/bin/sh
# Checks a unit of dist/systemd/ with `systemd-analyze verify` (any warning fails: verify exits 0
# on unknown keys) and rates its exposure with `systemd-analyze security` (2.0 or lower, as the
# README promises), with ExecStart pointed at the freshly built binary.
# Usage: systemd_verify.sh UNIT_FILE BINARY [REQUIRED_LINE_PART...]: each further argument must
# appear in some line of the unit (a regex tail, e.g. 'CapabilityBoundingSet=$').
# Exit 77 without systemd-analyze (a failure under CI=true).
set -eu
unit=$1
binary=$(readlink -f "$2")
shift 2
if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then echo "FAIL: systemd-analyze is missing" >&2; exit 1; fi
    echo "SKIP: systemd-analyze is missing" >&2
    exit 77
fi
name=$(basename "$unit")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/$(basename "$binary")#$binary#" "$unit" > "$dir/$name"
for key in "$@"; do
    grep -q -- "^.*$key" "$dir/$name" || { echo "FAIL: $name lacks $key" >&2; exit 1; }
done
if ! systemd-analyze verify "$dir/$name" > "$dir/out" 2>&1; then
    cat "$dir/out" >&2
    exit 1
fi
if [ -s "$dir/out" ]; then
    echo "FAIL: systemd-analyze verify warned:" >&2
    cat "$dir/out" >&2
    exit 1
fi
if ! systemd-analyze security --offline=true --threshold=20 "$dir/$name" > "$dir/security" 2>&1; then
    echo "FAIL: exposure above 2.0:" >&2
    tail -n 1 "$dir/security" >&2
    exit 1
fi
echo "ok: $name verifies cleanly; $(tail -n 1 "$dir/security" | sed 's/^[^O]*Overall //')"
