#!/usr/bin/env bash
# Installs what babelcast needs, builds it and starts the server on the
# embedded default (SQLite registry and file stream under ./babelcast-data).
# Extra arguments go to `babelcast serve` (see `babelcast serve --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
exec "$root/build/babelcast" serve "$@"
