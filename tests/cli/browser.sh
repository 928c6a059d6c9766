#!/usr/bin/env bash
# Browser test of the web pages: starts `babelcast serve` on a loopback port
# and drives headless Chromium with a fake microphone (tests/browser).
# Usage: bash tests/cli/browser.sh /path/to/babelcast
# Env: BC_TEST_SPEECH_DIR, BC_SOURCE_DIR, BC_BUILD_DIR; BC_CHROMIUM overrides
# the browser. Without a browser (or node) it skips, except when CI=true.
set -euo pipefail

BIN=${1:?usage: browser.sh /path/to/babelcast}
SOURCE_DIR=${BC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BC_BUILD_DIR:-$(dirname "$BIN")}
SPEECH_DIR=${BC_TEST_SPEECH_DIR:-/usr/share/pocketsphinx/test/data}
TEST_DIR="$SOURCE_DIR/tests/browser"
START_TIMEOUT_S=30
TEST_TIMEOUT_S=240
STOP_TIMEOUT_S=15

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: $1 (CI=true: the browser test must run)" >&2
    exit 1
  fi
  echo "SKIP: $1"
  exit 0
}

chromium=${BC_CHROMIUM:-}
if [ -z "$chromium" ]; then
  for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    if [ -x "$candidate" ]; then chromium=$candidate; break; fi
  done
fi
[ -n "$chromium" ] && [ -x "$chromium" ] || skip "no Chromium found (apt-get install chromium, or set BC_CHROMIUM)"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"

if [ ! -d "$TEST_DIR/node_modules/playwright-core" ]; then
  (cd "$TEST_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# One pass: a fresh server (extra options in $@) and the browser test
# against it in the given mode; returns non-zero on any failure.
run_pass() {
  local scheme=$1 mode=$2
  shift 2
  rm -rf "$tmp/data" "$tmp/port"
  mkdir -p "$tmp/data"
  "$BIN" serve --listen 127.0.0.1:0 --port-file "$tmp/port" --data-dir "$tmp/data" \
    --web-root "$SOURCE_DIR/web" "$@" >"$tmp/server.log" 2>&1 &
  server_pid=$!

  local port=""
  for _ in $(seq $((START_TIMEOUT_S * 10))); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "FAIL: the server exited during start-up:" >&2
      cat "$tmp/server.log" >&2
      return 1
    fi
    if [ -s "$tmp/port" ]; then port=$(cat "$tmp/port"); [ -n "$port" ] && break; fi
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "FAIL: the server did not start within ${START_TIMEOUT_S} s" >&2
    cat "$tmp/server.log" >&2
    return 1
  fi
  echo "server on $scheme://127.0.0.1:$port (pid $server_pid)"

  local status=0
  BC_BASE_URL="$scheme://127.0.0.1:$port" BC_SERVER_PID="$server_pid" BC_CHROMIUM="$chromium" \
    BC_TEST_SPEECH_DIR="$SPEECH_DIR" BC_BUILD_DIR="$BUILD_DIR" BC_BROWSER_MODE="$mode" \
    timeout "$TEST_TIMEOUT_S" node "$TEST_DIR/browser.test.mjs" || status=$?

  # The test ends by sending the server SIGTERM: it must shut down cleanly.
  for _ in $(seq $((STOP_TIMEOUT_S * 10))); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$server_pid" 2>/dev/null; then
    local server_status=0
    wait "$server_pid" 2>/dev/null || server_status=$?
    server_pid=""
    if [ "$server_status" -ne 0 ]; then
      echo "FAIL: the server exited with status $server_status after SIGTERM" >&2
      [ "$status" -ne 0 ] || status=1
    fi
  fi
  if [ "$status" -ne 0 ]; then
    echo "---- server log (last 60 lines)" >&2
    tail -n 80 "$tmp/server.log" >&2
  fi
  return "$status"
}

status=0
run_pass http full || status=$?
# Once more over https with a self-signed certificate, as on a LAN.
if [ "$status" -eq 0 ]; then
  run_pass https tls --tls-self-signed || status=$?
fi
exit "$status"
