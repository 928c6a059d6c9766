#!/usr/bin/env bash
# Installs what babelcast needs, builds it twice (release and ASan+UBSan)
# and runs every test under ctest in both builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

echo "== release build"
BUILD_DIR="$root/build" "$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure --timeout 900

echo "== sanitizer build (ASan + UBSan)"
BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DBABELCAST_SANITIZE=ON
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$root/build-asan" --output-on-failure --timeout 900

echo "== fuzzing (libFuzzer, 10 s per target)"
"$root/scripts/fuzz.sh" 10
