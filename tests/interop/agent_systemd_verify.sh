#!/bin/sh
# Checks dist/systemd/minibit-agent.service with `systemd-analyze verify` and rates its
# exposure with `systemd-analyze security` (2.0 or lower), pointing ExecStart at
# the freshly built binary; any warning fails (verify exits 0 on unknown keys).
# Usage: agent_systemd_verify.sh UNIT_FILE MINIBIT_PEER_BINARY. Exit 77 without systemd-analyze.
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
sed "s#/usr/local/bin/minibit-peer#$binary#" "$unit" > "$dir/minibit-agent.service"
for key in Type=notify WatchdogSec= DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes \
           StateDirectory=minibit RuntimeDirectory=minibit 'CapabilityBoundingSet=$' \
           'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -q -- "^.*$key" "$dir/minibit-agent.service" || { echo "FAIL: unit lacks $key" >&2; exit 1; }
done
if ! systemd-analyze verify "$dir/minibit-agent.service" > "$dir/out" 2>&1; then
    cat "$dir/out" >&2
    exit 1
fi
if [ -s "$dir/out" ]; then
    echo "FAIL: systemd-analyze verify warned:" >&2
    cat "$dir/out" >&2
    exit 1
fi
# Hardening: `systemd-analyze security` rates exposure 0-10; the README promises 2.0 or lower.
if ! systemd-analyze security --offline=true --threshold=20 "$dir/minibit-agent.service" \
        > "$dir/security" 2>&1; then
    echo "FAIL: exposure above 2.0:" >&2
    tail -n 1 "$dir/security" >&2
    exit 1
fi
echo "ok: minibit-agent.service verifies cleanly; $(tail -n 1 "$dir/security" | sed 's/^[^O]*Overall //')"
