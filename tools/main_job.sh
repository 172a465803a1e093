#!/usr/bin/env bash
# The main job of ./run.sh. Until the peer engine lands it makes a torrent of files/original.txt
# (a 1 MiB text file, generated when absent) in 100 pieces and prints what minibit-peer reads back.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p files
if [ ! -f files/original.txt ]; then
    echo "main job: generating files/original.txt (1 MiB of text)"
    base64 -w 76 /dev/urandom | head -c 1048576 > files/original.txt
fi
"$build_dir/minibit-peer" create files/original.txt --pieces 100 \
    --tracker http://127.0.0.1:6969/announce -o files/original.txt.torrent
"$build_dir/minibit-peer" info files/original.txt.torrent
