#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with clang into build-fuzz/
# (BUILD_DIR overrides) and runs each for SECONDS (default 10) on a copy of
# its seed corpus, one after the other. Fails on the first crash, leak,
# timeout or sanitizer report; the input that caused it is left in
# build-fuzz/fuzz-artifacts/. With FUZZ_RUNS=N each target stops after N
# inputs instead, or after SECONDS if that comes first (long runs).
# Usage: [FUZZ_RUNS=N] scripts/fuzz.sh [seconds-per-target] [target...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build-fuzz}
seconds=${1:-10}
shift || true

CC=${FUZZ_CC:-clang} cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBABELCAST_FUZZ=ON >/dev/null
cmake --build "$build_dir" --target fuzzers -j"$(nproc)"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in "$root"/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    targets+=("${name#fuzz_}")
  done
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The file targets' scratch files, on a tmpfs when there is one; removed
# even when a crash keeps a target from cleaning up after itself.
scratch_parent=/tmp
if [ -w /dev/shm ]; then scratch_parent=/dev/shm; fi
TMPDIR=$(mktemp -d "$scratch_parent/bcfuzz-run.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
artifacts="$build_dir/fuzz-artifacts"
work="$build_dir/fuzz-work"
mkdir -p "$artifacts"
for t in "${targets[@]}"; do
  # A copy: what the run adds to its corpus stays out of the source tree.
  rm -rf "$work/$t"
  mkdir -p "$work/$t"
  cp "$root/fuzz/corpus/$t"/* "$work/$t"/
  start=$(date +%s)
  if ! "$build_dir/fuzz/fuzz_$t" -max_total_time="$seconds" -runs="${FUZZ_RUNS:--1}" \
      -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$work/$t" \
      >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    echo "fuzz: $t FAILED after $(($(date +%s) - start)) s; input in $artifacts/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log")
  echo "fuzz: $t ok, ${runs:-?} runs in $(($(date +%s) - start)) s (${rate:-?}/s)"
done
echo "fuzz: ${#targets[@]} passed, 0 failed"
