#!/usr/bin/env bash
# Checks the C++ sources against the repository's .clang-format and .clang-tidy.
#   tools/lint.sh [BUILD_DIR]        (./run.sh lint; ./run.sh test runs it after the suites)
#   MINIBIT_LINT=format tools/lint.sh      only the clang-format pass (seconds)
# 1. clang-format-16 --dry-run --Werror over every tracked .cpp/.hpp/.h file.
# 2. clang-tidy-16 over every translation unit under src/ in BUILD_DIR/compile_commands.json,
#    two at a time; .clang-tidy turns every enabled check into an error.
# Exits 1 when either pass finds something, 2 when a tool or the compile database is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-${MINIBIT_BUILD_DIR:-build}}
jobs=${MINIBIT_LINT_JOBS:-2}
what=${MINIBIT_LINT:-all}

for tool in clang-format-16 clang-tidy-16 run-clang-tidy-16; do
    if ! command -v "$tool" >/dev/null; then
        echo "lint.sh: $tool missing; run ./run.sh lint or apt-get install -y clang-format-16 clang-tidy-16" >&2
        exit 2
    fi
done

status=0
start=$SECONDS
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h')
if ! clang-format-16 --dry-run --Werror "${sources[@]}"; then
    echo "lint.sh: clang-format: the files above differ from .clang-format; fix with clang-format-16 -i FILE" >&2
    status=1
fi
echo "lint.sh: clang-format checked ${#sources[@]} files in $((SECONDS - start)) s"
[ "$what" = format ] && exit $status

db="$build_dir/compile_commands.json"
if [ ! -f "$db" ]; then
    echo "lint.sh: $db missing; configure the build first (./run.sh build)" >&2
    exit 2
fi
# The compile database is g++'s: clang must ignore g++-only warning flags, and libstdc++ 12 hides
# std::expected unless __cpp_concepts >= 202002L (clang 16 implements what it needs but reports
# 201907L), as in tools/fuzz.sh.
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! run-clang-tidy-16 -quiet -j "$jobs" -p "$build_dir" \
        -extra-arg=-Wno-unknown-warning-option \
        -extra-arg=-U__cpp_concepts -extra-arg=-D__cpp_concepts=202002L \
        "^$PWD/src/" >"$log" 2>&1; then
    status=1
fi
# Keep the findings and failures, drop the per-file progress lines and header-count notes.
grep -v -E '^(\[[0-9]+/[0-9]+\]|[0-9]+ warnings? generated|Suppressed [0-9]+ warnings|Use -header-filter|Running clang-tidy|clang-tidy-16 .* -p=)' \
    "$log" || true
echo "lint.sh: clang-tidy checked src/ in $((SECONDS - start)) s ($jobs jobs)"
[ $status -eq 0 ] || echo "lint.sh: FAILED" >&2
exit $status
