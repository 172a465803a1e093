#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each (default 60), one at a time.
#   tools/fuzz.sh [SECONDS] [TARGET...]      (./run.sh fuzz installs clang-16 first)
# Builds build-fuzz with clang++-16, ASan + UBSan (aborting on UB) and coverage instrumentation
# of every library; new corpus entries go to build-fuzz/fuzz-corpus/<target>/ (not committed),
# crash inputs to build-fuzz/fuzz-artifacts/<target>/. Exits 1 on any crash, printing its path.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(bencode metainfo peer_wire http_head tracker_http tracker_udp tracker_client_response)
dir=${MINIBIT_FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++-16 >/dev/null; then
    echo "fuzz.sh: clang++-16 missing; run ./run.sh fuzz or apt-get install -y clang-16 libclang-rt-16-dev" >&2
    exit 2
fi
# libstdc++ 12 hides std::expected unless __cpp_concepts >= 202002L; clang 16 implements the
# C++20 concepts it needs (P0848) but still reports 201907L, so the fuzz build raises it.
cpp_args="-U__cpp_concepts -D__cpp_concepts=202002L -fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
if [ ! -f "$dir/build.ninja" ]; then
    CXX=clang++-16 meson setup "$dir" -Dfuzzing=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args="$cpp_args" \
        -Dcpp_link_args='-fno-sanitize-recover=all' \
        -Dbenchmarks=disabled -Dinterop=disabled >/dev/null
fi
meson compile -C "$dir" -j 2 "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
summary=()
for t in "${targets[@]}"; do
    corpus="$dir/fuzz-corpus/$t" artifacts="$dir/fuzz-artifacts/$t/" log="$dir/fuzz-logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    max_len=4096
    [ "$t" = peer_wire ] && max_len=20000
    echo "fuzz.sh: $t for ${seconds}s (log $log)"
    if "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
            "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
        runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
        summary+=("$t: ok, $runs runs in ${seconds}s")
    else
        status=1
        crash=$(grep -o 'Test unit written to .*' "$log" | sed 's/Test unit written to //' | tail -1)
        summary+=("$t: CRASH ${crash:-see $log}")
        grep -m1 -E 'ERROR: |runtime error|fuzz property violated' "$log" >&2 || true
    fi
done
printf 'fuzz.sh: %s\n' "${summary[@]}"
exit "$status"
