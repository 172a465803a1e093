#!/usr/bin/env bash
# MiniBit's one entry point on a fresh Debian 12 machine.
#   ./run.sh          set up, build (release), run the main job
#   ./run.sh build    set up and build only
#   ./run.sh test     set up (with the test clients), build, run every suite with meson test,
#                     then tools/lint.sh (clang-format, clang-tidy; MINIBIT_LINT=0 skips it), then
#                     fuzz every parser briefly (MINIBIT_FUZZ_SECONDS per target, default 20)
#   ./run.sh test --sanitize   every suite under ASan+UBSan, suite threads under TSan (tools/sanitize.sh)
#   ./run.sh fuzz [SECONDS [TARGET...]]   libFuzzer every parser (clang-16; docs/fuzzing.md)
#   ./run.sh lint     clang-format-16 and clang-tidy-16 over the sources (tools/lint.sh)
set -euo pipefail
cd "$(dirname "$0")"

build_dir=${MINIBIT_BUILD_DIR:-build}
build_pkgs=(g++ meson ninja-build pkg-config liburing-dev libxxhash-dev libspdlog-dev libfmt-dev
            libgtest-dev libgmock-dev libbenchmark-dev libssl-dev libcli11-dev nlohmann-json3-dev
            libhiredis-dev libcurl4-openssl-dev git)
test_pkgs=(python3-libtorrent mktorrent transmission-cli transmission-daemon aria2 opentracker systemd iproute2 iperf3
           iptables redis-server libnetfilter-queue-dev libmnl-dev stunnel4 openssl chromium)
fuzz_pkgs=(clang-16 libclang-rt-16-dev)
lint_pkgs=(clang-format-16 clang-tidy-16)

install_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing packages; as root run: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "run.sh: installing ${missing[*]}"
    # An old or absent package list makes apt-get install fail; refresh it once per run.
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# A release build at -O2: GCC 12's -O3 raises false -Wrestrict/-Wstringop-overread reports inside
# libstdc++ (GCC bug 105651 and kin) that -Dwerror=true would turn into failures.
configure() {
    local opts=(--buildtype=release -Doptimization=2 "$@")
    if [ ! -f "$build_dir/build.ninja" ]; then
        meson setup "$build_dir" "${opts[@]}"
    else
        # One option per call: `meson configure` applies --buildtype after -Doptimization, which
        # would put a second run back at -O3.
        meson configure "$build_dir" --buildtype=release >/dev/null
        meson configure "$build_dir" -Doptimization=2 "$@" >/dev/null
    fi
}

werror_flag=()
[ "${CI:-}" = "true" ] && werror_flag=(-Dwerror=true)

cmd=${1:-run}
case "$cmd" in
    build)
        install_packages "${build_pkgs[@]}"
        configure "${werror_flag[@]}"
        meson compile -C "$build_dir"
        ;;
    test)
        shift
        if [ "${1:-}" = "--sanitize" ]; then
            shift
            install_packages "${build_pkgs[@]}" "${test_pkgs[@]}"
            exec tools/sanitize.sh "$@"
        fi
        install_packages "${build_pkgs[@]}" "${test_pkgs[@]}" "${fuzz_pkgs[@]}" "${lint_pkgs[@]}"
        configure "${werror_flag[@]}"
        meson compile -C "$build_dir"
        meson test -C "$build_dir" --print-errorlogs --num-processes 2 "$@"
        # Formatting and clang-tidy (tools/lint.sh), also only for a whole run; MINIBIT_LINT=0 skips.
        if [ $# -eq 0 ] && [ "${MINIBIT_LINT:-1}" != 0 ]; then
            tools/lint.sh "$build_dir"
        fi
        # A brief libFuzzer pass over every parser; skipped when meson test args picked a subset.
        # MINIBIT_FUZZ_SECONDS=0 skips it too. A crash fails the run with the input's path.
        fuzz_seconds=${MINIBIT_FUZZ_SECONDS:-20}
        if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
            tools/fuzz.sh "$fuzz_seconds"
        fi
        ;;
    run)
        install_packages "${build_pkgs[@]}"
        configure "${werror_flag[@]}"
        meson compile -C "$build_dir"
        exec tools/main_job.sh "$build_dir"
        ;;
    lint)
        install_packages "${build_pkgs[@]}" "${lint_pkgs[@]}"
        configure "${werror_flag[@]}"
        # clang-tidy needs the compile database and the headers the build generates.
        meson compile -C "$build_dir"
        exec tools/lint.sh "$build_dir"
        ;;
    fuzz)
        # ./run.sh fuzz [SECONDS [TARGET...]]: libFuzzer, SECONDS (default 60) per target; docs/fuzzing.md.
        shift
        install_packages "${build_pkgs[@]}" "${fuzz_pkgs[@]}"
        exec tools/fuzz.sh "$@"
        ;;
    *)
        echo "usage: ./run.sh [build | test [--sanitize] [meson test args] | lint | fuzz [SECONDS [TARGET...]]]" >&2
        exit 2
        ;;
esac
