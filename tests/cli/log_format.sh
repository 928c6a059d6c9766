#!/usr/bin/env bash
# babelcast serve --log-format json: every line on stderr is one JSON object
# with ts (UTC, milliseconds), level, msg, pid and role, from start-up to a
# clean SIGTERM shutdown; quotes, backslashes, control characters and bytes
# that are not UTF-8 in a message stay one valid line. Text stays the default.
set -u
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() { if eval "$1"; then ok "$2"; else bad "$2"; fi; }

# Checks that every line of FILE is a JSON log object of process PID with
# role ROLE, and that the messages named after it appear in that order.
check_json() {
  python3 - "$@" <<'PY'
import json, re, sys
path, pid, role, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
msgs = []
with open(path, "rb") as f:
    lines = f.read().split(b"\n")
assert lines[-1] == b"", "output ends with a newline"
for raw in lines[:-1]:
    obj = json.loads(raw.decode("utf-8"))  # strict: valid UTF-8, one object per line
    assert set(obj) == {"ts", "level", "msg", "pid", "role"}, obj
    assert ts.match(obj["ts"]), obj["ts"]
    assert obj["level"] in ("debug", "info", "warn", "error"), obj
    assert obj["pid"] == pid, (obj["pid"], pid)
    assert obj["role"] == role, obj
    msgs.append(obj["msg"])
at = 0
for w in wanted:
    while at < len(msgs) and w not in msgs[at]:
        at += 1
    assert at < len(msgs), "no message with %r after the previous ones in %r" % (w, msgs)
print("%d JSON lines" % len(msgs))
PY
}

# 1. A server's whole life in JSON lines.
"$bin" serve --log-format json --listen 127.0.0.1:0 --port-file "$tmp/port" \
  --data-dir "$tmp/data" --no-speech 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
expect "[ -s $tmp/port ]" "server started"
expect "curl -sf http://127.0.0.1:\$(cat $tmp/port)/healthz >/dev/null" "server answers /healthz"
kill -TERM "$pid"
wait "$pid"
rc=$?
expect "[ $rc -eq 0 ]" "server stopped cleanly on SIGTERM"
server_pid=$pid
pid=
cat "$tmp/serve.log"
expect "check_json $tmp/serve.log $server_pid all 'listening on http://127.0.0.1:' 'shutting down' 'stopped'" \
  "every line is a JSON object with ts, level, msg, pid and role, start to stop"

# 2. A message with quotes, a backslash, a tab, a newline and a byte that is
# not UTF-8 (a data directory that cannot be created names it).
odd=$(printf '%s/missing/q"uo\\te\tta\nb\xffend' "$tmp")
"$bin" serve --log-format json --listen 127.0.0.1:0 --data-dir "$odd" --no-speech 2>"$tmp/odd.log" &
odd_pid=$!
wait $odd_pid
rc=$?
cat "$tmp/odd.log"
expect "[ $rc -eq 1 ]" "an uncreatable data directory fails with exit code 1"
expect "[ \$(wc -l < $tmp/odd.log) -eq 1 ]" "the error is one line"
expect "check_json $tmp/odd.log $odd_pid all 'cannot create directory'" "the error line is valid JSON"
python3 - "$tmp/odd.log" "$tmp" <<'PY' && ok "the message keeps every character, the stray byte as U+FFFD" || bad "escaped message"
import json, sys
msg = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))["msg"]
want = 'cannot create directory %s/missing/q"uo\\te\tta\nb\ufffdend' % sys.argv[2]
assert msg.startswith(want), (msg, want)
PY

# 3. The role is the one asked for.
"$bin" serve --log-format json --role worker --redis redis://127.0.0.1:1 --data-dir "$odd" 2>"$tmp/worker.log"
worker_rc=$?
expect "[ $worker_rc -eq 1 ] && grep -q '\"role\":\"worker\"' $tmp/worker.log" "a worker's lines say role worker"

# 4. Text stays the default; a bad format is a usage error.
"$bin" serve --listen 127.0.0.1:0 --data-dir "$odd" 2>"$tmp/text.log"
expect "grep -q '^babelcast error: cannot create directory' $tmp/text.log" "text lines by default"
"$bin" serve --log-format xml 2>"$tmp/usage.log"
rc=$?
expect "[ $rc -eq 2 ] && grep -q 'text or json' $tmp/usage.log" "--log-format xml is a usage error"

echo "log_format: $failures failures"
[ "$failures" -eq 0 ]
