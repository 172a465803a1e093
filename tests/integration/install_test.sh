#!/bin/sh
# Issue 11 defect 8: `meson install` installs the tracker's systemd unit, the program its
# ExecStart= runs and the doc its Documentation= names, into a scratch DESTDIR.
# Usage: install_test.sh BUILD_DIR.
set -eu
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
if ! meson install -C "$build" --no-rebuild --destdir "$dest" > "$dest/.log" 2>&1; then
    cat "$dest/.log" >&2
    echo "FAIL: meson install failed" >&2
    exit 1
fi
unit=$(find "$dest" -path '*/lib/systemd/system/minibit-tracker.service' | head -n 1)
[ -n "$unit" ] || { echo "FAIL: no minibit-tracker.service installed" >&2; exit 1; }
doc=$(sed -n 's#^Documentation=file://##p' "$unit")
[ -n "$doc" ] || { echo "FAIL: the unit names no file:// Documentation=" >&2; exit 1; }
[ -s "$dest$doc" ] || { echo "FAIL: Documentation= names $doc, not installed" >&2; exit 1; }
grep -q 'WatchdogSec=' "$unit" || { echo "FAIL: the unit lost WatchdogSec=" >&2; exit 1; }
bin=$(sed -n 's#^ExecStart=\([^ ]*\).*#\1#p' "$unit")
[ -x "$dest$bin" ] || { echo "FAIL: ExecStart= runs $bin, not installed" >&2; exit 1; }
"$dest$bin" --version | grep -q '^minibit-tracker ' || { echo "FAIL: $bin --version" >&2; exit 1; }
echo "ok: $unit names $doc and runs $bin"
