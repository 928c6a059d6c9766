#!/usr/bin/env bash
# Graceful overload: offers the embedded server twice its capacity, one
# session every --stagger-ms (700 ms), each speaking the librivox talk to
# one Spanish listener, and prints what bench_live measures: the admitted
# sessions' end of speech -> first audio (p50/p95/max), the utterances
# they never heard, and how many sessions were refused (503 or 4503).
#
#   bench/overload.sh [CAPACITY] [-- SERVER OPTIONS...]
#
# With CAPACITY the server runs with --max-sessions CAPACITY. Without it,
# capacity is what the server judges from measured load: one warm-up
# session runs first, then the estimate in /healthz (worker_capacity)
# sets the offer.
#
# A burst on a cold server instead: OFFER=16 STAGGER_MS=0 bench/overload.sh
# offers 16 sessions at once to a server that has measured nothing yet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build}
bin="$root/$build/babelcast"
live="$root/$build/bench/bench_live"
capacity=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then capacity=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
server_opts=("$@")
[ -n "$capacity" ] && server_opts+=(--max-sessions "$capacity")
dir=$(mktemp -d "${TMPDIR:-/tmp}/babelcast-overload.XXXXXX")
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

port=$(free_port)
url="http://127.0.0.1:$port"
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" --web-root "$root/web" \
    --session-rate 0 "${server_opts[@]}" >"$dir/server.log" 2>&1 &
server=$!
wait_http "$url/api/languages"

offer=${OFFER:-}
stagger=${STAGGER_MS:-700}
if [ -n "$offer" ]; then
    echo "== offering $offer session(s), $stagger ms apart, to a cold server"
    "$live" --server "$url" --sessions "$offer" --stagger-ms "$stagger" --server-pid "$server"
    exit 0
fi
if [ -z "$capacity" ]; then
    echo "== warm-up: one session, so the server measures its load"
    "$live" --server "$url" --sessions 1 --server-pid "$server" >/dev/null
    capacity=$(curl -sf "$url/healthz" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["worker_capacity"]["estimate"])')
    echo "the server judges its capacity at $capacity session(s)"
fi
offer=$((2 * capacity))
echo "== offering $offer session(s) to a server with capacity $capacity"
"$live" --server "$url" --sessions "$offer" --stagger-ms "$stagger" --server-pid "$server"
grep -c "shedding" "$dir/server.log" | sed 's/^/shedding changes logged by the server: /' || true
