#!/usr/bin/env bash
# The main job of ./run.sh: the original MiniBit scenario, a 10-peer swarm on 127.0.0.1 through
# minibit-tracker, 1 MiB (files/original.txt, generated when absent) in 100 pieces, each peer
# asking the tracker for 4 others; prints the per-peer table and checks every copy byte for byte.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
exec "$build_dir/minibit-loadgen" swarm
