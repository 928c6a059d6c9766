#!/usr/bin/env bash
# Starts a local cluster to try the scale-out roles on one machine: one
# redis-server, two gateways and two workers, all on loopback ports, with
# their data and logs under a temporary directory. Ctrl-C stops everything.
#
#   scripts/cluster.sh [FIRST_PORT]    gateways on FIRST_PORT and FIRST_PORT+1
#                                      (default 8080), workers' /healthz on +2, +3,
#                                      Redis on +4
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/babelcast"
[ -x "$bin" ] || "$root/scripts/build.sh"
first=${1:-8080}
redis_port=$((first + 4))
dir=$(mktemp -d "${TMPDIR:-/tmp}/babelcast-cluster.XXXXXX")
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "stopped; logs and data are in $dir"
}
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --appendfsync everysec --save "" >"$dir/redis.log" 2>&1 &
pids+=($!)
redis_url="redis://127.0.0.1:$redis_port"
for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

start() { # NAME ROLE PORT
    mkdir -p "$dir/$1"
    "$bin" serve --role "$2" --redis "$redis_url" --listen "127.0.0.1:$3" \
        --data-dir "$dir/$1" --web-root "$root/web" >"$dir/$1.log" 2>&1 &
    pids+=($!)
}
start worker-1 worker $((first + 2))
start worker-2 worker $((first + 3))
start gateway-a gateway "$first"
start gateway-b gateway $((first + 1))

cat <<MSG
Redis      $redis_url
gateway A  http://127.0.0.1:$first/
gateway B  http://127.0.0.1:$((first + 1))/
workers    http://127.0.0.1:$((first + 2))/healthz  http://127.0.0.1:$((first + 3))/healthz
logs       $dir/*.log
Create a session on either gateway; listeners may join through the other.
Ctrl-C stops the cluster.
MSG
wait
