#!/usr/bin/env bash
# minibit-peer with --threads 1 against --threads 2 over loopback: one seed -> one get, and one
# seed -> LEECHERS gets at once. Same file, same build, runs interleaved (1, 2, 1, 2, ...) so load
# changes hit both sides alike. Prints one line per run, then median and range per case.
# Usage: bench/peer_threads.sh [BUILD_DIR] [SIZE_MIB] [RUNS] [LEECHERS]
# Bounded: every get has --timeout 120 and every seed --for 600; everything started is killed
# by PID at exit; the temp folder is removed.
set -euo pipefail
build=${1:-build}
size_mib=${2:-256}
runs=${3:-5}
leechers=${4:-3}
peer="$build/minibit-peer"
[[ -x "$peer" ]] || { echo "no $peer (build it first)" >&2; exit 1; }
work=$(mktemp -d /tmp/minibit-bench-threads.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/seed"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/seed/data.bin"
"$peer" create "$work/seed/data.bin" --tracker http://127.0.0.1:9/announce \
    --piece-size 1048576 -o "$work/data.torrent" > /dev/null
port=$((20000 + RANDOM % 20000))
echo "# $(date -u +%FT%TZ) size ${size_mib} MiB, 1 MiB pieces, runs $runs, leechers $leechers"
echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "case threads run wall_s user_s sys_s" | tee "$work/results.txt"
out() { echo "$*" | tee -a "$work/results.txt"; }

start_seed() {  # threads
    "$peer" seed "$work/data.torrent" "$work/seed" --threads "$1" --port "$port" --no-tracker \
        --for 600 --max-peers 200 > /dev/null 2>&1 &
    seed_pid=$!
    pids+=("$seed_pid")
    sleep 1.5  # the seed hashes its data at start (resume file after the first time)
}
stop_seed() {
    kill "$seed_pid" 2>/dev/null || true
    wait "$seed_pid" 2>/dev/null || true
}
one_get() {  # threads folder -> "wall user sys" on stdout
    /usr/bin/time -f "%e %U %S" -o "$2.time" "$peer" get "$work/data.torrent" -o "$2" \
        --threads "$1" --no-tracker --peer "127.0.0.1:$port" --timeout 120 > /dev/null 2>&1
    cat "$2.time"
}

for ((r = 1; r <= runs; r++)); do
    for t in 1 2; do
        start_seed "$t"
        rm -rf "$work/get"
        read -r wall user sys < <(one_get "$t" "$work/get")
        cmp -s "$work/seed/data.bin" "$work/get/data.bin" || { echo "copy differs" >&2; exit 1; }
        out "one_leecher $t $r $wall $user $sys"
        rm -rf "$work"/many*
        t0=$(date +%s.%N)
        gets=()
        for ((i = 0; i < leechers; i++)); do
            one_get "$t" "$work/many$i" > "$work/many$i.out" &
            gets+=($!)
        done
        pids+=("${gets[@]}")
        for g in "${gets[@]}"; do wait "$g"; done
        t1=$(date +%s.%N)
        for ((i = 0; i < leechers; i++)); do
            cmp -s "$work/seed/data.bin" "$work/many$i/data.bin" || { echo "copy differs" >&2; exit 1; }
        done
        cpu=$(cat "$work"/many*.out | awk '{u += $2; s += $3} END {printf "%.2f %.2f", u, s}')
        out "many_leechers $t $r $(echo "$t1 - $t0" | bc) $cpu"
        rm -rf "$work"/many*
        stop_seed
    done
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# median (min-max) wall seconds; get-side CPU user+sys median"
awk 'NR > 1 && !/^#/ { key = $1 " threads=" $2; w[key] = w[key] " " $4; c[key] = c[key] " " ($5 + $6) }
     END { for (k in w) print k, w[k], "|", c[k] }' "$work/results.txt" | sort | while read -r name th rest; do
    walls=${rest%%|*}
    cpus=${rest##*|}
    med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f (%.3f-%.3f)", m, a[1], a[NR]}'; }
    echo "$name $th wall $(echo "$walls" | med) cpu $(echo "$cpus" | med)"
done
