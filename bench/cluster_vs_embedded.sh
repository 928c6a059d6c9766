#!/usr/bin/env bash
# bench_live against the embedded server (one process) and against one
# gateway + two workers + Redis on the same machine, back to back, for each
# session count given (default: 1 4). The difference is what the Redis hops
# (stream, bus, registry) cost.
#
#   bench/cluster_vs_embedded.sh TALK.wav [SESSIONS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/babelcast"
live="$root/build/bench/bench_live"
talk=$1
shift
[ $# -gt 0 ] && counts=("$@") || counts=(1 4)
seconds=${SECONDS_OF_TALK:-60}
dir=$(mktemp -d "${TMPDIR:-/tmp}/babelcast-bench.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

run_live() { # NAME URL PID SESSIONS
    echo "== $1, $4 session(s)"
    "$live" --server "$2" --sessions "$4" --languages es --file "$talk" --seconds "$seconds" \
        --server-pid "$3" | grep -E "first audio|final caption \(listeners\)|unexpected|CPU"
}

for n in "${counts[@]}"; do
    port=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/embedded-$n" --web-root "$root/web" \
        >"$dir/embedded-$n.log" 2>&1 &
    embedded=$!
    pids+=("$embedded")
    wait_http "http://127.0.0.1:$port/api/languages"
    run_live embedded "http://127.0.0.1:$port" "$embedded" "$n"
    kill "$embedded"; wait "$embedded" 2>/dev/null || true

    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
        --appendfsync everysec --save "" --appendfilename "bench-$n.aof" >/dev/null 2>&1 &
    pids+=($!)
    redis="redis://127.0.0.1:$redis_port"
    for w in 1 2; do
        "$bin" serve --role worker --redis "$redis" --data-dir "$dir/worker-$n-$w" \
            >"$dir/worker-$n-$w.log" 2>&1 &
        pids+=($!)
    done
    gport=$(free_port)
    "$bin" serve --role gateway --redis "$redis" --listen "127.0.0.1:$gport" \
        --data-dir "$dir/gateway-$n" --web-root "$root/web" >"$dir/gateway-$n.log" 2>&1 &
    gateway=$!
    pids+=("$gateway")
    wait_http "http://127.0.0.1:$gport/api/languages"
    run_live "gateway + 2 workers + Redis (CPU: the gateway only)" "http://127.0.0.1:$gport" "$gateway" "$n"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
done
