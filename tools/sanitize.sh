#!/usr/bin/env bash
# Sanitizer runs (./run.sh test --sanitize installs the packages first):
#   tools/sanitize.sh [meson test args]
# 1. build-sanitize: g++ with ASan + UBSan (-fno-sanitize-recover=all: undefined behaviour ends
#    the process, it does not just print), every suite, interop included (our programs are the
#    sanitized ones; the real clients are separate, uninstrumented processes).
# 2. build-tsan: g++ with ThreadSanitizer, suite `threads` (every test that runs more than one
#    thread), with tools/tsan.supp when it exists.
# Both are debugoptimized builds at -O1 -g1 (line tables: stack traces keep file:line; half the
# compile time of -O2 -g, src/swarm/torrent.cpp 23 vs 45 s CPU), MINIBIT_ASSERT on, without the
# micro benchmarks. Extra
# arguments go to both `meson test` calls (the TSan call adds --suite threads). Exits non-zero on
# the first failing run; docs/testing.md says how to reproduce one test.
set -euo pipefail
cd "$(dirname "$0")/.."

asan_dir=${MINIBIT_ASAN_BUILD_DIR:-build-sanitize}
tsan_dir=${MINIBIT_TSAN_BUILD_DIR:-build-tsan}
werror=()
[ "${CI:-}" = "true" ] && werror=(-Dwerror=true)

# configure DIR SANITIZERS: set up once, later runs only re-apply the options.
# -Wno-maybe-uninitialized: with -fsanitize=address g++ 12 reports std::function::_M_invoker
# "may be used uninitialized" inside libstdc++'s <regex> (GCC bug 105562), a false positive that
# -Werror would turn into a build failure; the release build keeps the warning.
configure() {
    local dir=$1 sanitize=$2
    local opts=(-Db_sanitize="$sanitize" -Dbenchmarks=disabled -Doptimization=1
                "-Dcpp_args=-fno-sanitize-recover=all -Wno-maybe-uninitialized -g1"
                -Dcpp_link_args=-fno-sanitize-recover=all
                "${werror[@]}")
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --buildtype=debugoptimized "${opts[@]}" >/dev/null
    else
        meson configure "$dir" "${opts[@]}" >/dev/null
    fi
}

# Every sanitized process inherits these (children spawned by tests too). The meson test
# --timeout-multiplier covers the slowdown (ASan ~2x, TSan ~5-15x) without editing timeouts.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:print_summary=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-print_suppressions=0}
tsan_supp=
[ -f tools/tsan.supp ] && tsan_supp=:suppressions=$PWD/tools/tsan.supp
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1:exitcode=66$tsan_supp}

echo "sanitize.sh: ASan + UBSan build in $asan_dir, every suite"
configure "$asan_dir" address,undefined
meson compile -C "$asan_dir"
meson test -C "$asan_dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@"

echo "sanitize.sh: ThreadSanitizer build in $tsan_dir, suite threads"
configure "$tsan_dir" thread
# meson test builds only what the selected tests need, not the whole project.
meson test -C "$tsan_dir" --print-errorlogs --num-processes 2 --timeout-multiplier 5 \
    --suite threads "$@"
