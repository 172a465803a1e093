#!/bin/sh
# Checks dist/systemd/minibit-tracker.service with `systemd-analyze verify` and rates its
# exposure with `systemd-analyze security` (2.0 or lower), pointing ExecStart at
# the freshly built binary. Any warning fails the test (verify exits 0 on unknown keys).
# Usage: tracker_systemd_verify.sh UNIT_FILE MINIBIT_TRACKER_BINARY. Exit 77 without systemd-analyze.
set -eu
unit=$1
binary=$(readlink -f "$2")
if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then echo "FAIL: systemd-analyze is missing" >&2; exit 1; fi
    echo "SKIP: systemd-analyze is missing" >&2
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/minibit-tracker#$binary#" "$unit" > "$dir/minibit-tracker.service"
for key in Type=notify WatchdogSec= DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes \
           PrivateTmp=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
           'CapabilityBoundingSet=$' 'io_uring_setup io_uring_enter io_uring_register' \
           LimitNOFILE=1048576; do
    grep -q -- "^.*$key" "$dir/minibit-tracker.service" || { echo "FAIL: unit lacks $key" >&2; exit 1; }
done
if ! systemd-analyze verify "$dir/minibit-tracker.service" > "$dir/out" 2>&1; then
    cat "$dir/out" >&2
    exit 1
fi
if [ -s "$dir/out" ]; then
    echo "FAIL: systemd-analyze verify warned:" >&2
    cat "$dir/out" >&2
    exit 1
fi
# Hardening: `systemd-analyze security` rates exposure 0-10; the README promises 2.0 or lower.
if ! systemd-analyze security --offline=true --threshold=20 "$dir/minibit-tracker.service" \
        > "$dir/security" 2>&1; then
    echo "FAIL: exposure above 2.0:" >&2
    tail -n 1 "$dir/security" >&2
    exit 1
fi
echo "ok: minibit-tracker.service verifies cleanly; $(tail -n 1 "$dir/security" | sed 's/^[^O]*Overall //')"
