#!/usr/bin/env bash
# Installs every Debian 12 package babelcast needs to build, run and test.
# Idempotent and non-interactive; run as root (or through sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config ca-certificates
  # speech recognition and real human speech for tests
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx-testdata
  # machine translation: engine and language pairs
  apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en
  apertium-fr-es apertium-es-pt apertium-spa-ita apertium-oc-es
  apertium-spa-ast apertium-spa-arg
  # speech synthesis, audio
  libespeak-ng-dev espeak-ng-data libsoxr-dev libopus-dev
  # server
  libwebsockets-dev libcjson-dev libsqlite3-dev libqrencode-dev libcurl4-openssl-dev libhiredis-dev libssl-dev
  # tests
  python3 python3-websockets redis-server chromium
  # tests: promtool checks the /metrics exposition
  prometheus
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The browser test drives Chromium from Node.js; a machine without node gets Debian's.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
# The AWS emulators the archive and stream tests start (s3rver, kinesalite),
# pinned by tests/aws/package-lock.json.
aws_emulators_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/aws"
if [ ! -d "$aws_emulators_dir/node_modules/s3rver" ]; then
  (cd "$aws_emulators_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
